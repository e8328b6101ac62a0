"""A run that cannot train fails instead of ending "done": weights that blew up or steps that
were all skipped are never saved, its log is standard JSON and must be readable before a
resume sets anything up, and a skipped step keeps the learning-rate schedule without torch's
scheduler warnings. Tiny runs on real City100 crops (tests/train/test_trainer.py)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from rwsr.errors import CheckpointError, InputError
from rwsr.imageio import read_image, write_image
from rwsr.train import trainer
from rwsr.train.config import TrainConfig
from rwsr.train.logs import RunLog
from rwsr.train.trainer import TrainingError, train


@pytest.fixture
def pairs(city100_crops: Path, tmp_path: Path) -> Path:
    """Two real x1 pairs (32x32 crops of City100 iPhone X LR/HR) in the `paired` layout."""
    root = tmp_path / "pairs"
    for number in ("021", "022"):
        lr = read_image(city100_crops / f"{number}L.PNG")
        hr = read_image(city100_crops / f"{number}H.PNG")
        write_image(root / "LR" / f"{number}.png", np.ascontiguousarray(lr[100:132, 100:132]))
        write_image(root / "HR" / f"{number}.png", np.ascontiguousarray(hr[100:132, 100:132]))
    return root


@pytest.fixture
def tiny(tiny_config, pairs: Path):
    """The tiny preset on `pairs`, with more overrides."""

    def make(*overrides: str) -> TrainConfig:
        return tiny_config(
            f"data.sources.0.root={pairs}",
            "data.sources.0.layout=paired",
            "data.sources.0.split=null",
            "data.sources.0.scale=1",
            *overrides,
        )

    return make


def _unvalidated(config: TrainConfig, **optim: float) -> TrainConfig:
    """`config` with optimiser values the config validator refuses, as a run whose rate blew
    up would have them: the health check must hold on its own."""
    return config.model_copy(update={"optim": config.optim.model_copy(update=optim)})


def _no_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    def setup(config: TrainConfig) -> None:
        raise AssertionError("set-up started before the log was checked")

    monkeypatch.setattr(trainer, "setup", setup)


def test_weights_that_blew_up_stop_the_run_and_nothing_is_saved(tiny) -> None:
    config = _unvalidated(tiny("name=diverged"), lr_g=float("inf"))
    with pytest.raises(TrainingError) as caught:
        train(config, progress=False)
    message = str(caught.value)
    assert message.startswith("iteration 2: G has NaN/Inf weights in ")
    assert "conv_first.weight" in message and "it has no checkpoint yet" in message
    run = config.output_dir / "diverged"
    assert not (run / "checkpoints").exists() and not (run / "generator.safetensors").exists()


def test_a_run_whose_every_step_was_skipped_fails(tiny) -> None:
    """An adversarial weight of 1e300 is finite, but every float32 loss it scales is inf."""
    config = tiny("loss.adv=1e300", "name=skipped")
    with pytest.raises(TrainingError, match="every step of this run up to iteration 2 was skipped"):
        train(config, progress=False)
    assert not (config.output_dir / "skipped" / "generator.safetensors").exists()


@pytest.mark.parametrize(
    ("warmup", "rates"), [(0, [1e-4, 1e-4, 0.5e-4, 0.5e-4]), (2, [0.5e-4, 1e-4, 0.5e-4, 0.5e-4])]
)
def test_a_skipped_first_step_keeps_the_schedule_without_torch_warnings(
    tiny, monkeypatch: pytest.MonkeyPatch, warmup: int, rates: list[float]
) -> None:
    real = trainer.generator_losses
    calls = {"n": 0}

    def nan_first(*args, **kwargs):
        losses = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            losses["total"] = losses["total"] * float("nan")
        return losses

    monkeypatch.setattr(trainer, "generator_losses", nan_first)
    config = tiny(
        "optim.milestones=[2]", f"optim.warmup={warmup}", "log_every=1", "name=first-skipped"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(config, progress=False)
    assert not [w for w in caught if "lr_scheduler" in str(w.message)]
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    # the rate each iteration's step ran with: ramped up in the warm-up, halved after the
    # milestone, skip or no skip
    assert [r["lr_g"] for r in records] == pytest.approx(rates)
    assert "pix" not in records[0] and "pix" in records[1]


def test_the_log_is_standard_json(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.write("val", 2, {"psnr": float("inf"), "lpips": float("nan"), "ssim": 1.0})
    log.close()

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    (line,) = (tmp_path / "log.jsonl").read_text().splitlines()
    assert json.loads(line, parse_constant=refuse) == {
        "kind": "val",
        "iteration": 2,
        "psnr": None,
        "lpips": None,
        "ssim": 1.0,
    }


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("latin-1", "the run's log is not UTF-8 text"),
        ("folder", "the run's log is not a file"),
        ("not a record", "line 1 is not a log record"),
    ],
)
def test_a_log_that_cannot_be_continued_stops_a_resume_before_set_up(
    tiny, monkeypatch: pytest.MonkeyPatch, broken: str, message: str
) -> None:
    config = tiny("optim.iterations=1", "name=resumed")
    run = train(config, progress=False)
    log = run / "log.jsonl"
    log.unlink()
    if broken == "latin-1":
        log.write_bytes('{"kind": "train", "iteration": 1, "note": "é"}\n'.encode("latin-1"))
    elif broken == "folder":
        log.mkdir()
    else:
        log.write_text('5\n{"kind": "train", "iteration": 1}\n')
    _no_setup(monkeypatch)
    with pytest.raises(InputError, match=f"{log}: {message}"):
        train(tiny("optim.iterations=2", "name=resumed"), resume="latest", progress=False)
    assert (run / "checkpoints" / "iter_0000001.pt").exists()


def test_a_given_vgg_file_is_used_even_where_a_random_vgg_is_allowed(tiny, tmp_path: Path) -> None:
    """tiny_cpu allows a random VGG; a file it is given must still be read and be VGG19."""
    torch.manual_seed(1)
    first = make_layers(cfgs["E"][:5])  # conv1_1 .. conv2_2, the layers tiny_cpu uses
    vgg19 = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in first.state_dict().items()}, vgg19)
    perceptual = trainer.build_perceptual(tiny(f"loss.vgg_weights={vgg19}"))
    torch.testing.assert_close(perceptual.extractor.features[7].weight, first[7].weight)
    assert "ImageNet" in trainer.perceptual_description(tiny(f"loss.vgg_weights={vgg19}"))
    alexnet = tmp_path / "alexnet.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, alexnet)
    with pytest.raises(CheckpointError, match=r"alexnet\.pth: not a torchvision VGG19"):
        train(tiny(f"loss.vgg_weights={alexnet}"), progress=False)
