"""Watching and steering a run: gradient clipping, learning-rate warm-up, gradient
accumulation, D started from a checkpoint, and the loggers a config chooses. Tiny CPU runs
on the City100 crops of tests/fixtures (the tiny_cpu preset)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from rwsr.errors import ConfigError
from rwsr.models.catalog import architecture_config, build_model
from rwsr.models.checkpoint import save_model
from rwsr.train import trainer
from rwsr.train.config import OptimConfig, TrainConfig
from rwsr.train.ddp import gradient_sync
from rwsr.train.logs import RunLog, chosen_loggers
from rwsr.train.state import load_checkpoint
from rwsr.train.trainer import check_micro_batches, learning_rate, train


def _first_batch(run: trainer.Run) -> dict[str, torch.Tensor]:
    batch = next(run.data.batches(start_iteration=0))
    return {key: batch[key].to(torch.get_default_dtype()) for key in ("lr", "hr")}


def _stepped(config: TrainConfig, batch: dict[str, torch.Tensor]) -> trainer.Run:
    """A fresh run of `config` (the same initial weights for the same seed) after one step."""
    run = trainer.setup(config)
    assert trainer.train_step(run, batch) is not None
    return run


# ----------------------------------------------------------------------------- warm-up


def test_the_learning_rate_warms_up_then_decays_as_a_function_of_the_iteration() -> None:
    """Iteration i of 4 warm-up iterations runs at i/4 of the rate; milestones count from
    iteration 0 and multiply the ramp. Asked twice or out of order, the answer is the same:
    exact resume relies on it."""
    optim = OptimConfig(warmup=4, milestones=[2, 6], gamma=0.5)
    rates = [learning_rate(1.0, optim, i) for i in range(1, 9)]
    assert rates == pytest.approx([0.25, 0.5, 0.375, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert [learning_rate(1.0, optim, i) for i in (7, 1, 3)] == [rates[6], rates[0], rates[2]]
    no_warmup = OptimConfig(milestones=[2, 6], gamma=0.5)
    assert [learning_rate(1.0, no_warmup, i) for i in (1, 2, 3, 7)] == [1, 1, 0.5, 0.25]


# ----------------------------------------------------------------------------- clipping


def test_gradients_are_clipped_to_the_global_norm_after_unscaling(tiny_config) -> None:
    """Clipping bounds G's and D's gradient norms and logs the norms before clipping. Under
    fp16's GradScaler (here on the CPU, in fp32, with a scale of 2^16) the same norms and
    the same step come out: the gradients are unscaled before they are measured."""
    config = tiny_config("optim.grad_clip=0.001")
    batch = _first_batch(trainer.setup(config))
    plain = trainer.setup(config)
    values = trainer.train_step(plain, batch)
    for part, model in (("g", plain.generator), ("d", plain.discriminator)):
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert values[f"grad_norm_{part}"] > 0.001
        assert torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) <= 0.001 * 1.01
    scaled = trainer.setup(config)
    scaled.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    scaled_values = trainer.train_step(scaled, batch)
    for part in ("g", "d"):
        assert float(scaled_values[f"grad_norm_{part}"]) == pytest.approx(
            float(values[f"grad_norm_{part}"])
        )
    for mine, theirs in zip(
        scaled.generator.parameters(), plain.generator.parameters(), strict=True
    ):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    unclipped = trainer.train_step(trainer.setup(tiny_config()), batch)
    assert "grad_norm_g" not in unclipped  # logged only when clipping is on


# ----------------------------------------------------------------------------- accumulation


@pytest.fixture
def float64_models():
    """Models and tensors in float64 while the test runs, so a difference is of meaning, not
    of rounding."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_two_micro_batches_step_as_the_whole_batch(tiny_config, float64_models) -> None:
    """Without L_adv, accumulate=2 takes the step accumulate=1 takes on the same batch of 4:
    L_pix and L_per are means over the samples, so the halves' gradients, each halved, add
    up to the batch's. With the GAN they do not, and should not be made to: PatchGAN's
    BatchNorm normalises each micro-batch by its own statistics and RaGAN's relativistic
    term subtracts the micro-batch's mean logit, as on one GPU of the authors' DDP runs."""
    batch = _first_batch(trainer.setup(tiny_config("data.batch_size=4")))
    runs = {
        (adv, accumulate): _stepped(
            tiny_config("data.batch_size=4", f"loss.adv={adv}", f"optim.accumulate={accumulate}"),
            batch,
        )
        for adv in (0, 0.005)
        for accumulate in (1, 2)
    }
    whole, halves = runs[0, 1], runs[0, 2]
    for (key, mine), theirs in zip(
        halves.generator.named_parameters(), whole.generator.parameters(), strict=True
    ):
        if theirs.grad is not None:
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-10, atol=1e-14, msg=key)
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-12, msg=key)
    gan_whole, gan_halves = runs[0.005, 1], runs[0.005, 2]
    d_grads = [
        (mine.grad - theirs.grad).norm() / theirs.grad.norm()
        for mine, theirs in zip(
            gan_halves.discriminator.parameters(), gan_whole.discriminator.parameters(), strict=True
        )
    ]
    assert max(d_grads) > 1e-3  # BatchNorm and RaGAN per micro-batch: another D step


def test_ddp_syncs_only_the_last_micro_batch() -> None:
    """Gradients add up on each rank; the all-reduce runs once, in the last backward (DDP
    would also give the right sum when syncing every micro-batch, at N times the traffic)."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = DistributedDataParallel(torch.nn.Linear(2, 2))
        run = types.SimpleNamespace(generator=model, discriminator=None)
        with gradient_sync(run, sync=False):
            assert not model.require_backward_grad_sync
        with gradient_sync(run, sync=True):
            assert model.require_backward_grad_sync
    finally:
        dist.destroy_process_group()


def test_a_micro_batch_split_that_leaves_a_fraction_is_refused(tiny_config) -> None:
    with pytest.raises(ConfigError, match=r"optim.accumulate: data.batch_size 2 does not split"):
        trainer.setup(tiny_config("optim.accumulate=3"))
    config = tiny_config("data.batch_size=4", "optim.accumulate=4")
    check_micro_batches(config, world=1)
    with pytest.raises(
        ConfigError,
        match=r"into 4 micro-batches on each of 2 process\(es\) \(4 / 8 = 0.5\); use a"
        r" data.batch_size that is a multiple of 8",
    ):
        check_micro_batches(config, world=2)


def test_a_run_with_every_new_optim_key_takes_one_step_per_iteration(tiny_config) -> None:
    """Warm-up, clipping and accumulation together, the GAN included, through `train`: one
    iteration is one optimiser step, and the logged rate follows the warm-up."""
    keys = ("data.batch_size=4", "optim.warmup=2", "optim.grad_clip=1", "optim.accumulate=2")
    run = train(tiny_config(*keys, "log_every=1"), progress=False)
    state = load_checkpoint(run / "checkpoints" / "iter_0000004.pt")
    assert state["opt_g"]["state"][0]["step"] == state["opt_d"]["state"][0]["step"] == 4
    records = [r for r in _records(run) if r["kind"] == "train"]
    assert [r["lr_g"] for r in records] == pytest.approx([0.5e-4, 1e-4, 0.5e-4, 0.5e-4])
    assert all(r["grad_norm_g"] > 0 and r["grad_norm_d"] > 0 for r in records)


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- D's start


def test_d_starts_from_a_training_checkpoint_or_a_weights_file(tiny_config, tmp_path: Path) -> None:
    run = train(tiny_config("optim.iterations=1", "name=donor"), progress=False)
    checkpoint = run / "checkpoints" / "iter_0000001.pt"
    donor = load_checkpoint(checkpoint)["discriminator"]
    said: list[str] = []
    started = trainer.build_discriminator(
        tiny_config(f"model.init_discriminator_from={checkpoint}"), said.append
    )
    for key, tensor in started.state_dict().items():
        torch.testing.assert_close(tensor, donor[key], rtol=0, atol=0, msg=key)
    assert said == [
        f"D initialised from {checkpoint} (rwsr training checkpoint): loaded {len(donor)}"
    ]
    weights = tmp_path / "d.safetensors"
    save_model(started, weights)
    said.clear()
    trainer.build_discriminator(
        tiny_config(f"model.init_discriminator_from={weights}"), said.append
    )
    assert said[0].startswith(f"D initialised from {weights} (D weights): loaded")


def test_a_d_checkpoint_that_does_not_fit_is_refused(tiny_config, tmp_path: Path) -> None:
    vgg128 = tmp_path / "vgg128.safetensors"
    save_model(build_model(architecture_config("vgg128")), vgg128)
    with pytest.raises(
        ConfigError,
        match=r"model.init_discriminator_from: .*vgg128.safetensors: checkpoint does not match"
        r" the model: loaded 0; missing .*model.discriminator is patchgan",
    ):
        trainer.build_discriminator(tiny_config(f"model.init_discriminator_from={vgg128}"), print)
    run = train(tiny_config("optim.iterations=1", "loss.adv=0", "name=no_d"), progress=False)
    without_d = run / "checkpoints" / "iter_0000001.pt"
    with pytest.raises(ConfigError, match="is a checkpoint of a run without D"):
        trainer.build_discriminator(
            tiny_config(f"model.init_discriminator_from={without_d}"), print
        )
    with pytest.raises(ConfigError, match=r"init_discriminator_from needs loss.adv > 0"):
        tiny_config(f"model.init_discriminator_from={without_d}", "loss.adv=0")
    with pytest.raises(ConfigError, match=r"model.init_discriminator_from: .*nowhere.pt does not"):
        tiny_config(f"model.init_discriminator_from={tmp_path / 'nowhere.pt'}")


# ----------------------------------------------------------------------------- loggers


class FakeWandbRun:
    def __init__(self, calls: dict[str, Any]) -> None:
        self.calls = calls

    def log(self, values: dict[str, float], *, step: int) -> None:
        self.calls.setdefault("log", []).append((step, values))

    def finish(self) -> None:
        self.calls["finished"] = True


@pytest.fixture
def fake_wandb(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A `wandb` module whose init and run record their calls (wandb is not a dependency)."""
    calls: dict[str, Any] = {"init": []}

    def init(**kwargs: Any) -> FakeWandbRun:
        calls["init"].append(kwargs)
        return FakeWandbRun(calls)

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return calls


@pytest.mark.parametrize(
    ("key", "module", "package"),
    [
        ("log_tensorboard", "torch.utils.tensorboard", "tensorboard"),
        ("log_wandb", "wandb", "wandb"),
    ],
)
def test_a_logger_set_true_but_not_installed_stops_the_run_before_set_up(
    tiny_config, monkeypatch: pytest.MonkeyPatch, key: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed

    def setup(config: TrainConfig) -> None:
        raise AssertionError("set-up started before the loggers were checked")

    monkeypatch.setattr(trainer, "setup", setup)
    with pytest.raises(
        ConfigError,
        match=rf"{key}: true, but the {package} package is not installed; pip install {package},"
        rf" or set {key}=false",
    ):
        train(tiny_config(f"{key}=true"), progress=False)


def test_tensorboard_auto_is_on_only_where_it_is_installed(
    tiny_config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    assert chosen_loggers(tiny_config()) == ()
    assert chosen_loggers(tiny_config("log_tensorboard=false")) == ()
    with pytest.raises(ConfigError, match="log_tensorboard: Input should be 'auto', True or False"):
        tiny_config("log_tensorboard=sometimes")
    scalars = []

    class SummaryWriter:
        def __init__(self, folder: str, purge_step: int) -> None:
            self.folder = folder

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def close(self) -> None:
            pass

    fake = types.SimpleNamespace(SummaryWriter=SummaryWriter)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    assert chosen_loggers(tiny_config()) == ("tensorboard",)
    log = RunLog(tmp_path, loggers=("tensorboard",))
    log.write("val", 3, {"psnr": 30.5, "note": "text is not a scalar"})
    log.close()
    assert scalars == [("val/psnr", 30.5, 3)]
    assert log.outputs == [str(tmp_path / "log.jsonl"), f"TensorBoard ({tmp_path / 'tensorboard'})"]


def test_a_run_logs_to_wandb_and_a_resume_continues_its_wandb_run(
    tiny_config, fake_wandb: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(
        "log_wandb=true", "log_wandb_project=camera", "log_tensorboard=false", "log_every=1"
    )
    run = train(config, progress=False)
    (init,) = fake_wandb["init"]
    assert (init["project"], init["name"], init["resume"], init["dir"]) == (
        "camera",
        "tiny_cpu",
        "allow",
        str(run),
    )
    assert init["config"]["optim"]["iterations"] == 4 and fake_wandb["finished"]
    assert [step for step, _ in fake_wandb["log"]] == [1, 2, 3, 4]
    assert {"train/pix", "train/d", "train/lr_g"} <= fake_wandb["log"][0][1].keys()
    assert f"logging to {run / 'log.jsonl'}, W&B (project camera, run {init['id']})" in (
        capsys.readouterr().err
    )
    resumed = tiny_config("log_wandb=true", "log_wandb_project=camera", "optim.iterations=5")
    train(resumed, resume="latest", progress=False)
    assert fake_wandb["init"][1]["id"] == init["id"]
