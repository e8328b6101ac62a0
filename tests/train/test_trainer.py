"""The training loop on real City100 pairs (crops in tests/fixtures): CLI run, overfitting,
exact resume, DDP, guards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError, ConfigError, RwsrError, WeightsUnavailableError
from rwsr.imageio import read_image, write_image
from rwsr.models.checkpoint import load_model
from rwsr.train import trainer
from rwsr.train.config import load_config
from rwsr.train.data import build_training_data
from rwsr.train.state import latest_checkpoint, load_checkpoint
from rwsr.train.trainer import TrainingError, train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_pairs(city100_crops: Path, tmp_path: Path) -> Path:
    """Three real x1 pairs (48x48 crops of City100 iPhone X LR/HR) in the generic layout."""
    root = tmp_path / "pairs"
    for number in ("021", "022", "023"):
        lr = read_image(city100_crops / f"{number}L.PNG")
        hr = read_image(city100_crops / f"{number}H.PNG")
        write_image(root / "LR" / f"{number}.png", np.ascontiguousarray(lr[100:148, 100:148]))
        write_image(root / "HR" / f"{number}.png", np.ascontiguousarray(hr[100:148, 100:148]))
    return root


# Two processes of one machine, as `torchrun --standalone --nproc_per_node 2`.
TORCHRUN_TWO_PROCESSES = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node",
    "2",
]


def _on(pairs: Path) -> tuple[str, ...]:
    """Overrides that make the tiny preset's only source the x1 `paired` folder `pairs`."""
    return (
        f"data.sources.0.root={pairs}",
        "data.sources.0.layout=paired",
        "data.sources.0.split=null",
        "data.sources.0.scale=1",
    )


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    )


def _records(run_dir: Path, kind: str = "train") -> list[dict]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _train_tiny_cli(output: Path, *overrides: str):
    """`rwsr train configs/tiny_cpu.yaml OVERRIDES output_dir=OUTPUT --quiet`, in-process."""
    command = ["train", str(REPO / "configs" / "tiny_cpu.yaml"), *overrides]
    return CliRunner().invoke(app, [*command, f"output_dir={output}", "--quiet"])


def test_tiny_preset_from_the_cli(city100_crops: Path, tmp_path: Path) -> None:
    result = _train_tiny_cli(tmp_path, f"data.sources.0.root={city100_crops}")
    assert result.exit_code == 0, result.output
    run = tmp_path / "tiny_cpu"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "iter_0000002.pt",
        "iter_0000004.pt",
    ]
    records = _records(run)
    assert [r["iteration"] for r in records] == [2, 4]
    assert all(
        {"pix", "per", "adv", "d", "total", "lr_g", "it_per_s", "data_wait"} <= r.keys()
        for r in records
    )
    assert records[-1]["lr_g"] == pytest.approx(0.5e-4)  # halved after the milestone 2
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    generator = load_model(run / "generator.safetensors")
    assert generator.config.rrdb.nb == 2 and generator.config.head.variant == "paper"
    # A training checkpoint is itself a model file for `rwsr info` / `rwsr upscale --model`.
    assert load_model(run / "checkpoints" / "iter_0000004.pt").config == generator.config
    state = load_checkpoint(run / "checkpoints" / "iter_0000004.pt")
    assert (
        state["iteration"] == 4
        and state["discriminator"] is not None
        and state["opt_d"] is not None
    )


def test_losses_fall_when_overfitting_one_batch(tiny_config, small_pairs: Path) -> None:
    config = tiny_config(
        *_on(small_pairs),
        "data.hr_patch=48",
        "data.augment=false",
        "data.batch_size=3",
        "loss.adv=0",
        "loss.pix=1",
        "loss.per=0.1",
        "optim.iterations=30",
        "optim.lr_g=0.002",
        "optim.milestones=[1000]",
        "log_every=5",
        "checkpoint_every=1000",
        "name=overfit",
    )
    records = _records(train(config, progress=False))
    assert records[-1]["pix"] < 0.6 * records[0]["pix"], records
    assert records[-1]["per"] < 0.8 * records[0]["per"], records


@pytest.mark.parametrize(("workers", "cache"), [(0, "none"), (2, "disk")])
def test_resume_continues_exactly(
    tiny_config, small_pairs: Path, tmp_path: Path, workers: int, cache: str
) -> None:
    """N + M iterations in one run equal N, stop, resume, M: same weights, D and optimiser
    (the stop falls inside the learning-rate warm-up). With workers, they start once per run
    and read the images memory-mapped from the disk cache."""
    common = (
        *_on(small_pairs),
        f"data.workers={workers}",
        f"data.cache={cache}",
        f"data.cache_dir={tmp_path / 'decoded'}",
        "optim.milestones=[3]",
        "optim.warmup=3",
        "optim.ema_decay=0.9",
        "checkpoint_every=2",
        "log_every=1",
    )
    straight = train(tiny_config(*common, "name=straight", "optim.iterations=5"), progress=False)
    train(tiny_config(*common, "name=split", "optim.iterations=2"), progress=False)
    split = train(
        tiny_config(*common, "name=split", "optim.iterations=5"), resume="latest", progress=False
    )
    a = load_checkpoint(straight / "checkpoints" / "iter_0000005.pt")
    b = load_checkpoint(split / "checkpoints" / "iter_0000005.pt")
    for part in ("generator", "generator_ema", "discriminator"):
        for key, tensor in a[part].items():
            torch.testing.assert_close(b[part][key], tensor, rtol=0, atol=1e-7, msg=f"{part}.{key}")
    assert a["opt_g"]["state"][0]["step"] == b["opt_g"]["state"][0]["step"] == 5
    # The resumed run's log continues without duplicates.
    assert [r["iteration"] for r in _records(split)] == [1, 2, 3, 4, 5]
    assert [r["pix"] for r in _records(straight)][2:] == pytest.approx(
        [r["pix"] for r in _records(split)][2:], abs=1e-7
    )


def test_refuses_to_mix_runs_without_resume(tiny_config, small_pairs: Path) -> None:
    config = tiny_config(
        *_on(small_pairs),
        "optim.iterations=2",
    )
    train(config, progress=False)
    with pytest.raises(Exception, match="already holds checkpoints; pass --resume"):
        train(config, progress=False)


def test_non_finite_losses_stop_with_a_clear_error(
    tiny_config, small_pairs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = trainer.generator_losses
    calls = {"n": 0}

    def failing(*args, **kwargs):
        losses = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 2:
            losses["total"] = losses["total"] * float("nan")
        return losses

    monkeypatch.setattr(trainer, "generator_losses", failing)
    config = tiny_config(
        *_on(small_pairs),
        "optim.iterations=10",
        "checkpoint_every=2",
        "max_bad_steps=3",
        "name=nan",
    )
    with pytest.raises(TrainingError, match="3 consecutive non-finite steps up to iteration 5"):
        train(config, progress=False)
    run = config.output_dir / "nan"
    last = load_checkpoint(latest_checkpoint(run))
    good = load_checkpoint(run / "checkpoints" / "iter_0000002.pt")
    assert last["iteration"] == 4  # written during the bad streak: the weights never moved
    for key, tensor in good["generator"].items():
        assert torch.isfinite(tensor).all()
        torch.testing.assert_close(last["generator"][key], tensor, rtol=0, atol=0)


def test_untrained_vgg_is_refused(
    tiny_config, small_pairs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _offline(monkeypatch, tmp_path)
    config = tiny_config(
        *_on(small_pairs),
        "loss.allow_random_vgg=false",
    )
    with pytest.raises(WeightsUnavailableError, match="loss.vgg_weights=PATH"):
        train(config, progress=False)


def test_ddp_two_processes_on_cpu(small_pairs: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        *TORCHRUN_TWO_PROCESSES,
        "-m",
        "rwsr",
        "train",
        str(REPO / "configs" / "tiny_cpu.yaml"),
        *_on(small_pairs),
        "data.batch_size=2",  # global: 1 per process
        f"output_dir={tmp_path}",
        "optim.iterations=3",
        "validation.layout=paired",
        f"validation.root={small_pairs}",
        "validation.scale=1",
        "validation.every=2",
        "validation.lpips_backbone=random",
        "checkpoint_every=3",
        "log_every=1",
        "--quiet",
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("batch: 2 global, 1 per process x 2") == 1
    run = tmp_path / "tiny_cpu"
    records = _records(run)
    assert [r["iteration"] for r in records] == [1, 2, 3]
    assert all(r["world_size"] == 2 for r in records)
    state = load_checkpoint(run / "checkpoints" / "iter_0000003.pt")
    assert len(state["rng"]) == 2  # both ranks' RNG states are kept for an exact resume
    assert (
        load_checkpoint(run / "best.pt")["best"]["iteration"] == 2
    )  # rank 0 validated, all joined


@pytest.fixture
def float64_models():
    """Models and tensors in float64 while the test runs: its sums are then exact enough
    that any difference is one of meaning, not of rounding."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_ddp_shares_the_global_batch_and_steps_as_one_process(
    city100_crops: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, float64_models
) -> None:
    """Two gloo processes at data.batch_size=4 take 2 samples each. With the GAN, both ranks
    end with the same G and D. Without L_adv they take the step one process takes on the
    whole batch: L_pix and L_per are means over the samples, so DDP's gradient average is the
    batch gradient. (In float32 the two differ by rounding only, 1e-6 of the gradient, which
    Adam turns into up to 6e-7 of a weight where a gradient nearly cancels; in float64, 1e-16.)
    D's terms are not such means: PatchGAN's BatchNorm normalises by each rank's share (at 2
    of 4 samples, 42% of D's gradient differs) and RaGAN's E[D(x)] averages over it (0.4%),
    as on the authors' GPUs. The same holds with optim.accumulate=2 (DDP syncs the gradients
    of the last micro-batch only, which by then hold both)."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # the reference below is one process
    tiny = REPO / "configs" / "tiny_cpu.yaml"
    common = [f"data.sources.0.root={city100_crops}", f"output_dir={tmp_path}", "data.batch_size=4"]
    runs = {
        "gan": common,
        "no_adv": [*common, "loss.adv=0"],
        "no_adv_accumulate": [*common, "loss.adv=0", "optim.accumulate=2"],
    }
    single = trainer.setup(load_config(tiny, runs["no_adv"]))
    batches = single.data.batches(start_iteration=0)
    drawn = [next(batches) for _ in range(3)]
    fixed = [{key: batch[key].double() for key in ("lr", "hr")} for batch in drawn]
    job = tmp_path / "job.pt"
    torch.save({"config": str(tiny), "runs": runs, "batches": fixed}, job)
    command = [
        *TORCHRUN_TWO_PROCESSES,
        str(Path(__file__).with_name("ddp_steps.py")),
        str(job),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]

    rank0, rank1 = (torch.load(tmp_path / f"gan_rank{rank}.pt") for rank in (0, 1))
    for part in ("generator", "discriminator"):
        for key, tensor in rank0[part].items():
            torch.testing.assert_close(rank1[part][key], tensor, rtol=0, atol=0, msg=key)
    for batch in fixed:
        assert trainer.train_step(single, batch) is not None
    split = torch.load(tmp_path / "no_adv_rank0.pt")
    trained = dict(single.generator.named_parameters())
    single_grad = torch.cat([trained[key].grad.flatten() for key in split["generator_grad"]])
    split_grad = torch.cat([grad.flatten() for grad in split["generator_grad"].values()])
    assert (split_grad - single_grad).norm() < 1e-10 * single_grad.norm()
    accumulated = torch.load(tmp_path / "no_adv_accumulate_rank0.pt")
    for key, tensor in trained.items():  # a step moves a weight by up to 1e-4 (optim.lr_g)
        torch.testing.assert_close(split["generator"][key], tensor.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(
            accumulated["generator"][key], tensor.detach(), rtol=0, atol=1e-12
        )


def test_a_global_batch_that_does_not_split_evenly_is_refused(tiny_config) -> None:
    config = tiny_config("data.batch_size=3")
    with pytest.raises(
        ConfigError, match=r"data.batch_size: 3 is the global batch .* 2 processes \(3 / 2 = 1.5\)"
    ):
        build_training_data(
            config.data, scale=1, seed=0, rank=0, world=2, device=torch.device("cpu")
        )


def test_validation_keeps_the_best_checkpoint(tiny_config, small_pairs: Path) -> None:
    config = tiny_config(
        *_on(small_pairs),
        "validation.layout=paired",
        f"validation.root={small_pairs}",
        "validation.scale=1",
        "validation.every=2",
        "validation.tile=32",
        "validation.lpips_backbone=random",
        "optim.iterations=4",
        "name=val",
    )
    run = train(config, progress=False)
    val = _records(run, "val")
    assert [r["iteration"] for r in val] == [2, 4]
    for record in val:
        assert 5 < record["psnr"] < 60 and -1 <= record["ssim"] <= 1 and record["lpips"] >= 0
    best = load_checkpoint(run / "best.pt")
    assert best["best"]["psnr"] == max(r["psnr"] for r in val)
    assert best["iteration"] == best["best"]["iteration"]


def _no_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(*args, **kwargs):
        raise AssertionError("a training step ran before every file was checked")

    monkeypatch.setattr(trainer, "train_step", step)


def test_missing_lpips_weights_fail_before_the_first_step(
    tiny_config, small_pairs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _offline(monkeypatch, tmp_path)
    _no_step(monkeypatch)
    config = tiny_config(
        *_on(small_pairs),
        f"validation.root={small_pairs}",
        "validation.scale=1",
        "validation.every=1000",
    )
    with pytest.raises(WeightsUnavailableError) as caught:
        train(config, progress=False)
    message = str(caught.value)
    assert "validation.lpips_backbone=PATH" in message and "validation.lpips=false" in message
    assert not (config.output_dir / config.name).exists()


def test_missing_vgg_weights_and_validation_pairs_fail_before_the_first_step(
    tiny_config, small_pairs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _offline(monkeypatch, tmp_path)
    _no_step(monkeypatch)
    config = tiny_config(
        *_on(small_pairs),
        "loss.perceptual_net=vgg16",
        "loss.allow_random_vgg=false",
    )
    with pytest.raises(WeightsUnavailableError, match="VGG16.*loss.vgg_weights=PATH"):
        train(config, progress=False)
    empty = tmp_path / "empty"
    (empty / "HR").mkdir(parents=True)
    (empty / "LR").mkdir()
    config = tiny_config(
        *_on(small_pairs),
        f"validation.root={empty}",
        "validation.lpips=false",
    )
    with pytest.raises(RwsrError, match="empty.*HR"):
        train(config, progress=False)


def test_the_iterations_checkpoint_exists_when_its_validation_fails(
    tiny_config, small_pairs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self, generator):
        raise RuntimeError("validation broke")

    monkeypatch.setattr(trainer.Validator, "__call__", broken)
    config = tiny_config(
        *_on(small_pairs),
        f"validation.root={small_pairs}",
        "validation.scale=1",
        "validation.every=3",
        "validation.lpips=false",
        "checkpoint_every=100",
    )
    with pytest.raises(RuntimeError, match="validation broke"):
        train(config, progress=False)
    run = config.output_dir / config.name
    assert latest_checkpoint(run).name == "iter_0000003.pt"
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == 3


def test_an_x3_checkpoint_reloads_as_x3_and_clean_photos_become_pairs(
    tiny_config, photo_rgb: np.ndarray, tmp_path: Path
) -> None:
    """x2 and x3 RRDB nets share every tensor shape: only the stored config tells them apart."""
    clean = tmp_path / "clean"
    for index in range(2):
        write_image(
            clean / f"{index}.png", np.ascontiguousarray(photo_rgb[:96, index * 96 :][:, :96])
        )
    config = tiny_config(
        f"data.sources=[{{layout: clean, root: {clean}}}]",
        "model.generator=rwsr-edl-x3",
        "model.rrdb={scale: 3, nb: 1, nf: 8, gc: 4}",
        "data.hr_patch=48",
        "optim.iterations=1",
    )
    run = train(config, progress=False)
    loaded = load_model(run / "checkpoints" / "iter_0000001.pt")
    assert loaded.config.rrdb.scale == 3 and loaded.key_format == "rwsr training checkpoint"
    assert loaded.model(torch.rand(1, 3, 10, 12)).shape == (1, 3, 30, 36)
    assert json.loads((run / "data.json").read_text())[0]["pairs"] == 2


def test_three_sources_from_the_cli(ngdc_sets: tuple[Path, Path], tmp_path: Path) -> None:
    """City100 pairs + clean photos + NGDC-selected auxiliary pairs (City100 pairs as the
    real-pair target, HR photos of other pairs as the clean and the auxiliary set), one tiny
    run; data.json says who gave what."""
    target, aux = ngdc_sets
    runner = CliRunner()
    ngdc = runner.invoke(
        app,
        [
            "ngdc",
            f"--target={target}",
            "--target-layout=city100",
            "--target-split=train",
            f"--aux={aux}",
            f"--output={tmp_path / 'ngdc'}",
            "--patch=32",
            "--percentile=40",
            "--workers=1",
            "--no-progress",
        ],
    )
    assert ngdc.exit_code == 0, ngdc.output
    sources = (
        f"[{{name: city100, layout: city100, root: {target}, split: train}},"
        f" {{name: clean, layout: clean, root: {aux}}},"
        f" {{name: ngdc, layout: paired, root: {tmp_path / 'ngdc'}}}]"
    )
    result = _train_tiny_cli(
        tmp_path / "runs",
        f"data.sources={sources}",
        f"data.noise_bank={tmp_path / 'ngdc' / 'bank'}",
        "data.hr_patch=32",
        "optim.iterations=2",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "runs" / "tiny_cpu" / "data.json").read_text())
    kept_aux = len(list((tmp_path / "ngdc" / "HR").iterdir()))
    assert [(s["name"], s["pairs"]) for s in report] == [
        ("city100", 3),
        ("clean", 4),
        ("ngdc", kept_aux),
    ]
    assert kept_aux > 0 and all("bank" in s["noise"] for s in report)
    assert sum(s["share"] for s in report) == pytest.approx(1.0)
    assert "3 source(s)" in result.output


def test_resume_refuses_other_recipes_and_foreign_files(tiny_config, small_pairs: Path) -> None:
    overrides = (*_on(small_pairs), "optim.iterations=2")
    config = tiny_config(*overrides)
    run = train(config, progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(loss.adv: 0.005 -> 0.0\)"):
        train(tiny_config(*overrides, "loss.adv=0", "optim.iterations=3"), resume="latest")
    with pytest.raises(ConfigError, match=r"model.rrdb.nb: 2 -> 3"):
        train(tiny_config(*overrides, "model.rrdb.nb=3"), resume="latest")
    with pytest.raises(CheckpointError, match="not an rwsr training checkpoint.*model.init_from"):
        train(config, resume=run / "generator.safetensors")
    # a log line cut short by a kill does not stop a resumed run
    with open(run / "log.jsonl", "a") as log:
        log.write('{"kind": "train", "itera')
    train(tiny_config(*overrides[:-1], "optim.iterations=3"), resume="latest", progress=False)
    assert [r["iteration"] for r in _records(run)] == [2, 3]


def test_ctrl_c_prints_one_line_with_the_way_to_resume(
    small_pairs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(run, batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train_step", interrupted)
    result = _train_tiny_cli(tmp_path, *_on(small_pairs))
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"{tmp_path / 'tiny_cpu'}: interrupted; rerun with --resume to continue from its last"
        " checkpoint"
    )
