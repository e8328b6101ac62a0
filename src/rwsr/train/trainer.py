"""The training loop of RWSR-EDL, readable top to bottom.

`setup` opens everything a run needs before its first step (data sources, noise banks, the
init checkpoint, VGG and LPIPS weights, validation pairs), so a missing file stops the run at
once; `train_step` is one G step on the routed losses and one D step (RaGAN on the fused
output); `train` is the loop: learning rates, steps, logs, then per interval the checkpoint
first and the validation after it (a validation that fails never costs the iteration's
checkpoint). `check_health` runs before anything is saved: a run whose every step was
skipped, or whose weights are no longer finite, stops with an error instead of writing them.

Multi-GPU and multi-node (torchrun) is rwsr.train.ddp; which checkpoint a run resumes from,
and what it restores, is rwsr.train.resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from rwsr.atomic import write_text_atomic
from rwsr.device import resolve_device, resolve_precision
from rwsr.errors import CheckpointError, ConfigError, RwsrError
from rwsr.models.catalog import architecture_config, build_model, generator_scale
from rwsr.models.checkpoint import (
    load_weights_into,
    non_finite_tensors,
    read_weights_file,
    save_model,
    widen_for_unshuffle,
)
from rwsr.models.edl import RWSREDL, RWSREDLConfig
from rwsr.models.key_formats import convert_to_native
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.vgg import PERCEPTUAL_NETS, VGGFeatureExtractor
from rwsr.train.config import OptimConfig, SpeedConfig, TrainConfig
from rwsr.train.data import TrainingData, build_training_data
from rwsr.train.ddp import (
    Distributed,
    broadcast_from_main,
    close_distributed,
    gather_from_all,
    gradient_sync,
    init_distributed,
    process_device,
    true_on_every_rank,
    unwrap,
    wrap_ddp,
)
from rwsr.train.logs import RunLog, chosen_loggers, plot_curves, read_log
from rwsr.train.losses import PerceptualLoss, discriminator_loss, generator_losses
from rwsr.train.progress import record_validation
from rwsr.train.resume import checkpoint_to_resume, record_if_best, restore
from rwsr.train.state import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
)
from rwsr.train.validation import Validator


class TrainingError(RwsrError):
    """Training cannot go on (e.g. losses keep coming out NaN)."""


# ----------------------------------------------------------------------------- set-up


@dataclasses.dataclass
class Run:
    """Everything one training run holds; made by `setup`, advanced by `train_step`."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    dtype: torch.dtype
    ddp: Distributed
    say: Callable[[str], None]
    data: TrainingData
    generator: nn.Module
    discriminator: nn.Module | None
    perceptual: PerceptualLoss | None
    ema: AveragedModel | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    validator: Validator | None
    iteration: int = 0
    best: dict[str, float] | None = None
    updates: int = 0  # steps of this process that changed the weights (not skipped)

    @property
    def weights(self) -> dict[str, float]:
        loss = self.config.loss
        return {"pix": loss.pix, "per": loss.per, "adv": loss.adv}

    def inference_model(self) -> nn.Module:
        """The generator that is exported and validated: the EMA if there is one."""
        return self.ema.module if self.ema is not None else unwrap(self.generator)

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def build_generator(config: TrainConfig, say: Callable[[str], None]) -> nn.Module:
    arch = architecture_config(config.model.generator)
    if config.model.head is not None:
        if not isinstance(arch, RWSREDLConfig):
            raise ConfigError(f"model.head: {config.model.generator} has no head to configure")
        arch = arch.model_copy(update={"head": config.model.head})
    if config.model.rrdb is not None:
        if isinstance(arch, RWSREDLConfig):
            arch = arch.model_copy(update={"rrdb": config.model.rrdb})
        elif isinstance(arch, RRDBNetConfig):
            arch = config.model.rrdb
        else:
            raise ConfigError(f"model.rrdb: {config.model.generator} is not a generator")
    generator = build_model(arch)
    if config.model.init_from is not None:
        state, _ = read_weights_file(config.model.init_from)
        key_format, native = convert_to_native(state, config.model.init_from)
        native, widened = widen_for_unshuffle(generator, native)
        report = load_weights_into(generator, native, strict=False, path=config.model.init_from)
        if not report.loaded:
            raise ConfigError(
                f"model.init_from: {config.model.init_from} shares no weights with"
                f" {config.model.generator}"
            )
        say(f"G initialised from {config.model.init_from} ({key_format}): {report.summary()}")
        if widened:
            say(f"model.init_from: {widened}")
    trunk = generator.rrdb if isinstance(generator, RWSREDL) else generator
    if isinstance(trunk, RRDBNet):
        trunk.gradient_checkpointing = config.model.gradient_checkpointing
    if config.model.freeze_trunk:
        generator.rrdb.requires_grad_(False)
    return generator


def discriminator_weights(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """D's tensors in `path` and what held them: an rwsr training checkpoint (its D) or a
    file of D weights (rwsr safetensors of a D, a BasicSR net_d, a plain state dict)."""
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError:  # not a training checkpoint: read it as a file of weights
        return read_weights_file(path)[0], "D weights"
    if checkpoint.get("discriminator") is None:
        raise ConfigError(
            f"model.init_discriminator_from: {path} is a checkpoint of a run without D (loss.adv 0)"
        )
    return checkpoint["discriminator"], "rwsr training checkpoint"


def build_discriminator(config: TrainConfig, say: Callable[[str], None]) -> nn.Module:
    discriminator = build_model(architecture_config(config.model.discriminator))
    path = config.model.init_discriminator_from
    if path is not None:
        state, source = discriminator_weights(path)
        try:
            report = load_weights_into(discriminator, state, strict=True, path=path)
        except CheckpointError as error:
            raise ConfigError(
                f"model.init_discriminator_from: {error} (model.discriminator is"
                f" {config.model.discriminator}, and every tensor must fit it)"
            ) from None
        say(f"D initialised from {path} ({source}): {report.summary()}")
    return discriminator


def check_micro_batches(config: TrainConfig, world: int) -> None:
    """Each of the `world` processes splits its share of data.batch_size into
    `optim.accumulate` equal micro-batches (equal, so their mean losses add up to the
    batch's); a split that leaves a fraction is refused."""
    batch, micro_batches = config.data.batch_size, config.optim.accumulate
    if micro_batches > 1 and batch % (world * micro_batches):
        raise ConfigError(
            f"optim.accumulate: data.batch_size {batch} does not split into {micro_batches}"
            f" micro-batches on each of {world} process(es) ({batch} / {world * micro_batches}"
            f" = {batch / (world * micro_batches):g}); use a data.batch_size that is a multiple"
            f" of {world * micro_batches}, or another optim.accumulate"
        )


def build_perceptual(config: TrainConfig) -> PerceptualLoss | None:
    if config.loss.per <= 0:
        return None
    extractor = VGGFeatureExtractor(
        net=config.loss.perceptual_net,
        layers=tuple(config.loss.vgg_layers) if config.loss.vgg_layers else None,
        weights_path=config.loss.vgg_weights,
        allow_random=config.loss.allow_random_vgg,
        option="loss.vgg_weights=PATH",
    )
    layer_weights = config.loss.vgg_layers or {extractor.layers[0]: 1.0}
    return PerceptualLoss(extractor, layer_weights)


def perceptual_description(config: TrainConfig) -> str:
    """Which network and layers L_per used, for logs, checkpoints and reports."""
    if config.loss.per <= 0:
        return "none"
    net = PERCEPTUAL_NETS[config.loss.perceptual_net]
    layers = ", ".join(config.loss.vgg_layers or [net.default_layer])
    random = config.loss.allow_random_vgg and config.loss.vgg_weights is None  # a file is used
    weights = " (RANDOM weights: tests only)" if random else " (ImageNet)"
    return f"{net.name} {layers}{weights}"


def setup(config: TrainConfig) -> Run:
    """Open and check everything the run will need, before its first step."""
    device = resolve_device(config.device)
    ddp = init_distributed(device.type)
    device = process_device(ddp, device)
    say = (
        (lambda message: tqdm.write(message, file=sys.stderr))
        if ddp.main
        else (lambda message: None)
    )
    torch.manual_seed(config.seed + ddp.rank)
    check_micro_batches(config, ddp.world)  # before any data set is read

    generator = build_generator(config, say).to(device)
    data = build_training_data(
        config.data,
        scale=generator_scale(unwrap(generator).config),
        seed=config.seed,
        rank=ddp.rank,
        world=ddp.world,
        device=device,
    )
    discriminator = build_discriminator(config, say).to(device) if config.loss.adv > 0 else None
    perceptual = build_perceptual(config)
    if perceptual is not None:
        perceptual = perceptual.to(device)
    validator = (
        Validator(config.validation, device=device)
        if config.validation.root is not None and ddp.main
        else None
    )
    ema = (
        AveragedModel(
            generator, multi_avg_fn=get_ema_multi_avg_fn(config.optim.ema_decay), use_buffers=True
        )
        if config.optim.ema_decay is not None
        else None
    )
    optim = config.optim
    trainable = [p for p in generator.parameters() if p.requires_grad]
    opt_g = torch.optim.Adam(trainable, lr=optim.lr_g, betas=optim.betas)
    opt_d = (
        torch.optim.Adam(discriminator.parameters(), lr=optim.lr_d, betas=optim.betas)
        if discriminator is not None
        else None
    )
    dtype = resolve_precision(config.precision, device)
    apply_speed_switches(config.speed, device, [generator, discriminator, perceptual])
    run = Run(
        config=config,
        run_dir=config.output_dir / config.name,
        device=device,
        dtype=dtype,
        ddp=ddp,
        say=say,
        data=data,
        generator=generator,
        discriminator=discriminator,
        perceptual=perceptual,
        ema=ema,
        opt_g=opt_g,
        opt_d=opt_d,
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        validator=validator,
    )
    wrap_ddp(run)
    return run


def apply_speed_switches(
    speed: SpeedConfig, device: torch.device, modules: list[nn.Module | None]
) -> None:
    """The `speed` section: backend flags, NHWC layout and in-place torch.compile of the
    models (nn.Module.compile keeps their state_dict keys, so checkpoints do not change).
    Called after the EMA copy is made: the average is of the plain module's weights."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = speed.cudnn_benchmark
        torch.backends.cudnn.allow_tf32 = speed.tf32
        torch.backends.cuda.matmul.allow_tf32 = speed.tf32
    for module in modules:
        if module is None:
            continue
        if speed.channels_last:
            module.to(memory_format=torch.channels_last)
        if speed.compile:
            module.compile()


# ----------------------------------------------------------------------------- checkpoints


def _state_or_none(item: Any) -> dict[str, Any] | None:
    return item.state_dict() if item is not None else None


def training_state(run: Run) -> dict[str, Any]:
    """One plain dict with everything `--resume` needs; every rank must call it (RNG gather)."""
    return {
        "iteration": run.iteration,
        "config": run.config.model_dump_json(),
        "generator_config": unwrap(run.generator).config.model_dump_json(),
        "perceptual_net": perceptual_description(run.config),
        "generator": unwrap(run.generator).state_dict(),
        "generator_ema": run.ema.module.state_dict() if run.ema is not None else None,
        "ema_updates": int(run.ema.n_averaged) if run.ema is not None else None,
        "discriminator": _state_or_none(unwrap(run.discriminator) if run.discriminator else None),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": _state_or_none(run.opt_d),
        "scaler": run.scaler.state_dict(),
        "rng": gather_from_all(rng_state(), run.ddp),
        "best": run.best,
    }


def _last_good(run: Run) -> str:
    checkpoint = latest_checkpoint(run.run_dir)
    return f"the last good checkpoint is {checkpoint}" if checkpoint else "it has no checkpoint yet"


def check_health(run: Run) -> None:
    """The one check before anything is saved: a run whose every step so far was skipped has
    trained nothing, and NaN/Inf weights (a learning rate or loss weight that blew up) would
    make every later checkpoint and the exported generator broken; both stop the run."""
    if run.updates == 0:
        raise TrainingError(
            f"every step of this run up to iteration {run.iteration} was skipped (non-finite"
            f" losses): nothing was saved, and {_last_good(run)}; lower the loss weights or"
            " learning rates, or start a new run with --precision fp32"
        )
    parts = {
        "G": unwrap(run.generator),
        "the EMA of G": run.ema.module if run.ema is not None else None,
        "D": unwrap(run.discriminator) if run.discriminator is not None else None,
    }
    for what, model in parts.items():
        bad = non_finite_tensors(model) if model is not None else []
        if bad:
            raise TrainingError(
                f"iteration {run.iteration}: {what} has NaN/Inf weights in {len(bad)} tensors"
                f" ({', '.join(bad[:3])}): nothing was saved, and {_last_good(run)};"
                " lower optim.lr_g / optim.lr_d or the loss weights"
            )


def save(run: Run) -> None:
    """The iteration's checkpoint (rotated) and the exported generator, once healthy."""
    check_health(run)
    state = training_state(run)
    if not run.ddp.main:
        return
    save_checkpoint(
        state, checkpoint_path(run.run_dir, run.iteration), keep=run.config.keep_checkpoints
    )
    save_model(
        run.inference_model(),
        run.run_dir / "generator.safetensors",
        overwrite=True,
        metadata={
            "source": f"rwsr train {run.config.name}, iteration {run.iteration}",
            "perceptual_net": perceptual_description(run.config),
        },
    )


def validate(run: Run, log: RunLog | None) -> None:
    """Score the inference model; a new best is written to best.pt, then the crops, curves
    and page a researcher watches (rwsr.train.progress)."""
    better = False
    validation = None
    if run.validator is not None:
        validation = run.validator(run.inference_model())
        scores = validation.scores
        log.write("val", run.iteration, scores)
        run.say(
            f"validation at {run.iteration}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        )
        better = record_if_best(run, scores)
    if broadcast_from_main(better, run.ddp):  # every rank must join training_state's gather
        state = training_state(run)
        if run.ddp.main:
            save_checkpoint(state, run.run_dir / "best.pt")
    if validation is not None:
        record_validation(
            run.run_dir,
            iteration=run.iteration,
            crops=validation.crops,
            config=run.config.validation,
        )


# ----------------------------------------------------------------------------- one step


def learning_rate(base: float, optim: OptimConfig, iteration: int) -> float:
    """The rate of `iteration`'s step: `base` times gamma for each milestone before it (with
    a milestone at 10,000, iteration 10,001 is the first at half the rate), times the warm-up
    ramp: iteration i of `optim.warmup` runs at i/warmup (never 0, which would waste the
    step), milestones counted from iteration 0 as without warm-up. A function of the
    iteration alone, so skipped steps and resumed runs keep the schedule; no torch scheduler
    has to be stepped around a skipped optimizer step."""
    ramp = min(1.0, iteration / optim.warmup) if optim.warmup else 1.0
    return base * ramp * optim.gamma ** sum(milestone < iteration for milestone in optim.milestones)


def set_learning_rates(run: Run) -> None:
    optim = run.config.optim
    for optimizer, base in ((run.opt_g, optim.lr_g), (run.opt_d, optim.lr_d)):
        for group in optimizer.param_groups if optimizer is not None else ():
            group["lr"] = learning_rate(base, optim, run.iteration)


def train_step(run: Run, batch: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """One G step and one D step on the batch, whose gradients add up over `optim.accumulate`
    micro-batches; the loss values as 0-d device tensors (means over the micro-batches, and
    the gradient norms when `optim.grad_clip` is on: read them at log intervals, each read
    waits for the device), or None when a loss was not finite (the step is skipped, on every
    rank together)."""
    layout = torch.channels_last if run.config.speed.channels_last else torch.contiguous_format
    micro_batches = run.config.optim.accumulate
    lr_images = batch["lr"].to(run.device, non_blocking=True, memory_format=layout)
    hr_images = batch["hr"].to(run.device, non_blocking=True, memory_format=layout)
    for optimizer in (run.opt_g, run.opt_d):
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
    values: dict[str, torch.Tensor] = {}
    pieces = zip(lr_images.chunk(micro_batches), hr_images.chunk(micro_batches), strict=True)
    for index, (lr_image, hr_image) in enumerate(pieces):
        with gradient_sync(run, sync=index == micro_batches - 1):
            losses = accumulate_gradients(run, lr_image, hr_image)
        if losses is None:
            return None
        for name, value in losses.items():
            values[name] = values.get(name, 0.0) + value.detach() / micro_batches
    for name, optimizer in (("g", run.opt_g), ("d", run.opt_d)):
        if optimizer is None:
            continue
        norm = clip_gradients(run, optimizer)
        if norm is not None:
            values[f"grad_norm_{name}"] = norm
        run.scaler.step(optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update_parameters(unwrap(run.generator))
    return values


def clip_gradients(run: Run, optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """`optim.grad_clip` on the optimiser's global gradient norm, measured on the true
    gradients (fp16's GradScaler unscales them first; its step then does not again); the
    norm before clipping, or None when clipping is off."""
    if run.config.optim.grad_clip is None:
        return None
    run.scaler.unscale_(optimizer)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    return torch.nn.utils.clip_grad_norm_(parameters, run.config.optim.grad_clip)


def accumulate_gradients(
    run: Run, lr_image: torch.Tensor, hr_image: torch.Tensor
) -> dict[str, torch.Tensor] | None:
    """Forward and backward of one micro-batch: G's routed losses and D's loss, each divided
    by `optim.accumulate` and added to the gradients (where a loss is a mean over samples,
    the micro-batches' sum is the whole batch's gradient; PatchGAN's BatchNorm and RaGAN's
    mean logit are per micro-batch). The loss values (D's as 'd'), or None, with nothing
    added, when one was not finite."""
    generator, discriminator = run.generator, run.discriminator

    # G: D frozen, losses routed to the branches
    generator.train()
    if discriminator is not None:
        discriminator.requires_grad_(False)
    with run.autocast():
        out = (
            generator(lr_image, return_terms=True)
            if isinstance(unwrap(generator), RWSREDL)
            else generator(lr_image)
        )
        losses = generator_losses(
            out,
            hr_image,
            routing=run.config.loss.routing,
            weights=run.weights,
            perceptual=run.perceptual,
            discriminator=discriminator,
        )
    sr = out.sr if not isinstance(out, torch.Tensor) else out
    d_loss = None
    if discriminator is not None:
        discriminator.requires_grad_(True)
        with run.autocast():
            d_loss = discriminator_loss(discriminator, sr, hr_image)
    checked = [losses["total"]] + ([d_loss] if d_loss is not None else [])
    finite = torch.isfinite(torch.stack([loss.detach().float() for loss in checked])).all()
    # every rank skips together, or the gradient all-reduce would hang
    finite = true_on_every_rank(finite.float(), run.ddp)
    if not finite:  # a step's one host sync: whether to skip must be known before backward
        return None
    micro_batches = run.config.optim.accumulate
    run.scaler.scale(losses["total"] / micro_batches).backward()
    if d_loss is not None:
        run.scaler.scale(d_loss / micro_batches).backward()
        losses["d"] = d_loss
    return losses


# ----------------------------------------------------------------------------- the loop


def open_run(config: TrainConfig, *, resume: Path | str | None = None) -> Run:
    """The run `train` steps, opened and (with `resume` = a checkpoint path or "latest")
    restored; it writes nothing, so `rwsr train --dry-run` opens its runs the same way."""
    run_dir = config.output_dir / config.name
    # refused (a run folder with checkpoints, no --resume) before set-up, which reads every
    # data set and weight file
    resume_path = checkpoint_to_resume(run_dir, resume)
    read_log(run_dir / "log.jsonl")  # a log the run cannot continue stops it before set-up
    chosen_loggers(config)  # so does a logger set true whose package is not installed
    run = setup(config)
    if resume == "latest" and resume_path is None:
        run.say(f"no checkpoint in {run_dir / 'checkpoints'}; starting from iteration 0")
    if resume_path is not None:
        restore(run, resume_path)
    return run


def train(config: TrainConfig, *, resume: Path | str | None = None, progress: bool = True) -> Path:
    """Run (or continue, with `resume` = a checkpoint path or "latest") one training run.

    Returns the run folder: checkpoints/, best.pt, generator.safetensors, log.jsonl,
    curves.png, config.json, data.json.
    """
    run = open_run(config, resume=resume)
    run.say(run.data.report())
    run.say(f"perceptual loss: {perceptual_description(config)}")
    log = None
    if run.ddp.main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            run.run_dir / "config.json", config.model_dump_json(indent=2), overwrite=True
        )
        sources = [dataclasses.asdict(s) for s in run.data.sources]
        write_text_atomic(run.run_dir / "data.json", json.dumps(sources, indent=1), overwrite=True)
        log = RunLog(
            run.run_dir,
            start_iteration=run.iteration,
            loggers=chosen_loggers(config),
            wandb_project=config.log_wandb_project,
            run_config=json.loads(config.model_dump_json()),
        )
        run.say(f"logging to {', '.join(log.outputs)}")

    batches = run.data.batches(start_iteration=run.iteration)
    window: dict[str, list[float]] = {}
    bad_steps, data_wait, window_start = 0, 0.0, time.perf_counter()
    bar = tqdm(
        total=config.optim.iterations,
        initial=run.iteration,
        unit="it",
        disable=not (progress and run.ddp.main),
    )
    while run.iteration < config.optim.iterations:
        run.iteration += 1
        waited = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - waited
        set_learning_rates(run)
        values = train_step(run, batch)
        if values is None:
            bad_steps += 1
            run.say(
                f"warning: non-finite loss at iteration {run.iteration}; step skipped"
                f" ({bad_steps}/{config.max_bad_steps})"
            )
            if bad_steps >= config.max_bad_steps:
                raise TrainingError(
                    f"{bad_steps} consecutive non-finite steps up to iteration {run.iteration};"
                    f" stopped, and {_last_good(run)}; try a lower learning rate, or start a new"
                    " run with --precision fp32"
                )
        else:
            bad_steps = 0
            run.updates += 1
            for name, value in values.items():
                window.setdefault(name, []).append(value)
        bar.update(1)
        last = run.iteration == config.optim.iterations
        if run.iteration % config.log_every == 0 or last:
            elapsed = time.perf_counter() - window_start
            steps = len(window.get("total", [])) or 1
            # The losses stay on the device until here: no host sync per step for them.
            record = {k: float(torch.stack(v).float().mean()) for k, v in window.items()}
            record.update(
                lr_g=run.opt_g.param_groups[0]["lr"],
                it_per_s=steps / elapsed,
                data_wait=data_wait / elapsed,
                world_size=run.ddp.world,
            )
            bar.set_postfix(
                {k: f"{v:.3g}" for k, v in record.items() if k in ("pix", "per", "adv", "d")}
            )
            if log is not None:
                log.write("train", run.iteration, record)
            window, data_wait, window_start = {}, 0.0, time.perf_counter()
        validating = (
            config.validation.root is not None and run.iteration % config.validation.every == 0
        )
        if run.iteration % config.checkpoint_every == 0 or last or validating:
            save(run)  # before validation: a failing validation never costs the checkpoint
        if validating:
            validate(run, log)
    bar.close()
    if log is not None:
        log.close()
        plot_curves(log.path, run.run_dir / "curves.png")
    close_distributed(run.ddp)
    return run.run_dir
