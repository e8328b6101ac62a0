"""`rwsr train --dry-run`: the plan of the tiny preset, nothing written, and the errors of a
real run before any step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import RwsrError
from rwsr.train import plan, trainer
from rwsr.train.plan import dry_run, precision_description
from rwsr.train.trainer import train

REPO = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[Path, int]:
    """Every file under `folder` with its modification time."""
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def test_dry_run_prints_the_plan_and_writes_nothing(tiny_config, tmp_path: Path) -> None:
    config = tiny_config()
    text = dry_run(config)
    assert not (tmp_path / "runs").exists()
    lines = text.splitlines()
    assert lines[0] == "dry run of tiny_cpu: nothing was written"
    assert f"run folder: {(tmp_path / 'runs' / 'tiny_cpu').absolute()} (a new run)" in lines
    assert "training data: 6 pairs from 1 source(s)" in lines
    assert "batch: 2 (one process)" in lines
    assert "precision: fp32 (asked for, not auto)" in lines
    assert "discriminator: patchgan; 2,765,633 parameters" in lines
    assert "perceptual network: VGG19 conv2_2 (RANDOM weights: tests only)" in lines
    assert "losses: 0.01 L_pix + 1 L_per + 0.005 L_adv, routing literal" in lines
    assert "steps: 4 iterations" in lines
    assert (
        "learning rates: G 0.0001, D 0.0001, Adam betas (0.9, 0.999); x0.5 after iterations 2"
        in lines
    )
    assert any(line.startswith("intervals: log every 2 (log.jsonl") for line in lines)
    assert any(line.startswith("generator: rwsr-edl-x1 (") for line in lines)
    assert re.fullmatch(
        r"estimate: \S+ s/step \(3 timed steps after 1 warm-up\); 4 iterations = \S+ h of steps"
        r" \(checkpoints and validations not counted\)",
        lines[-1],
    )


def test_dry_run_of_a_resumed_run_changes_nothing_in_it(tiny_config) -> None:
    train(tiny_config("optim.iterations=2"), progress=False)
    config = tiny_config()
    run_dir = config.output_dir / config.name
    before = _files(run_dir)
    text = dry_run(config, resume="latest")
    assert _files(run_dir) == before
    checkpoint = run_dir / "checkpoints" / "iter_0000002.pt"
    assert f"(resumes from {checkpoint} at iteration 2)" in text
    assert "4 iterations = " in text and ", the 2 left = " in text


def test_precision_says_why_auto_chose_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    cuda = torch.device("cuda")
    assert precision_description("auto", cuda, torch.float16).startswith(
        "fp16 (auto: CUDA compute capability 7.0 has fp16 tensor cores but no native bf16"
    )
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert precision_description("auto", cuda, torch.bfloat16) == (
        "bf16 (auto: CUDA compute capability 9.0 runs bf16 natively)"
    )
    assert precision_description("auto", torch.device("cpu"), torch.float32) == (
        "fp32 (auto: this CPU runs neither bf16 natively nor fp16 on tensor cores)"
    )


def _offline_vgg(tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    )
    return tiny_config("loss.allow_random_vgg=false")


def _empty_validation_set(tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty"
    (empty / "HR").mkdir(parents=True)
    (empty / "LR").mkdir()
    return tiny_config(f"validation.root={empty}", "validation.lpips=false")


def _checkpoints_without_resume(tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tiny_config()
    checkpoint = config.output_dir / config.name / "checkpoints" / "iter_0000002.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    return config


@pytest.mark.parametrize(
    "broken", [_offline_vgg, _empty_validation_set, _checkpoints_without_resume]
)
def test_dry_run_fails_as_the_real_run_before_any_step(
    broken, tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(*args, **kwargs):
        raise AssertionError("a training step ran before every input was checked")

    monkeypatch.setattr(trainer, "train_step", step)
    monkeypatch.setattr(plan, "train_step", step)
    config = broken(tiny_config, tmp_path, monkeypatch)
    before = _files(tmp_path)
    with pytest.raises(RwsrError) as real:
        train(config, progress=False)
    with pytest.raises(type(real.value)) as dry:
        dry_run(config)
    assert str(dry.value) == str(real.value)
    assert _files(tmp_path) == before


def test_cli_dry_run(city100_crops: Path, tmp_path: Path) -> None:
    command = ["train", str(REPO / "configs" / "tiny_cpu.yaml")]
    command += [f"data.sources.0.root={city100_crops}", f"output_dir={tmp_path / 'runs'}"]
    result = CliRunner().invoke(app, [*command, "--dry-run", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "batch: 2 (one process)" in result.output
    assert "device: cpu, " in result.output and "; asked for: cpu" in result.output
    assert "estimate: " in result.output
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(app, [*command, f"validation.root={tmp_path}", "--dry-run"])
    assert result.exit_code != 0 and result.output.startswith("error: ")
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
