"""`rwsr train --dry-run`: what a run would do and how long it would take, without writing.

A run hours long on a rented GPU should not stop at iteration 1 on a missing bank, nor turn
out to take three days. The dry run opens the run exactly as `train` does (`open_run`: the
same checks, every source, bank, checkpoint and weight file, the resumed state), takes a few
real training steps on it to time them, and then drops it: no run folder, log or checkpoint
is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from rwsr.models.catalog import describe
from rwsr.models.edl import RWSREDLConfig
from rwsr.outputs import check_output_dir
from rwsr.train.config import TrainConfig
from rwsr.train.ddp import close_distributed, unwrap
from rwsr.train.logs import chosen_loggers
from rwsr.train.state import latest_checkpoint
from rwsr.train.trainer import (
    Run,
    open_run,
    perceptual_description,
    set_learning_rates,
    train_step,
)

PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def dry_run(
    config: TrainConfig,
    *,
    resume: Path | str | None = None,
    warmup_steps: int = 1,
    timed_steps: int = 3,
) -> str | None:
    """The plan of `config` (as `train(config, resume=resume)` would run it) with the time of
    `timed_steps` training steps taken after `warmup_steps` untimed ones (the first steps pay
    for cuDNN's search, compilation and the loader's start). Every error a real run would
    stop on before its first step is raised here too. Under torchrun every process opens and
    steps its share; the plan is returned by the main one, None by the others."""
    if warmup_steps < 0 or timed_steps < 1:
        raise ValueError(
            f"Expected warmup_steps >= 0 and timed_steps >= 1, but got {warmup_steps} and"
            f" {timed_steps}"
        )
    check_output_dir(config.output_dir / config.name, option="output_dir")
    run = open_run(config, resume=resume)
    start = run.iteration
    seconds_per_step = time_steps(run, warmup_steps=warmup_steps, timed_steps=timed_steps)
    close_distributed(run.ddp)
    if not run.ddp.main:
        return None
    return "\n".join(
        [
            f"dry run of {config.name}: nothing was written",
            *plan_lines(run, start=start, resume=resume),
            estimate_line(
                seconds_per_step,
                iterations=config.optim.iterations,
                start=start,
                warmup_steps=warmup_steps,
                timed_steps=timed_steps,
            ),
        ]
    )


def time_steps(run: Run, *, warmup_steps: int, timed_steps: int) -> float:
    """Seconds per training step, data loading included, as `train` takes them; the run's
    weights and states change, so it must not be saved afterwards."""
    batches = run.data.batches(start_iteration=run.iteration)
    began = 0.0
    for step in range(warmup_steps + timed_steps):
        if step == warmup_steps:
            _synchronize(run.device)
            began = time.perf_counter()
        run.iteration += 1
        batch = next(batches)
        set_learning_rates(run)
        train_step(run, batch)
    _synchronize(run.device)
    return (time.perf_counter() - began) / timed_steps


def _synchronize(device: torch.device) -> None:
    """Wait for the queued kernels, so that a time covers the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def plan_lines(run: Run, *, start: int, resume: Path | str | None) -> list[str]:
    """The key facts of an opened run, one line (or the data report's block) each."""
    config = run.config
    loss = config.loss
    ema = config.optim.ema_decay
    return [
        f"run folder: {run.run_dir.absolute()} ({resume_description(run, start, resume)})",
        run.data.report(),
        f"loader: {loader_description(run)}",
        f"device: {device_description(run.device)}; asked for: {config.device}",
        f"precision: {precision_description(config.precision, run.device, run.dtype)}",
        f"generator: {generator_description(run)}",
        f"discriminator: {discriminator_description(run)}",
        f"perceptual network: {perceptual_description(config)}",
        (
            f"losses: {loss.pix:g} L_pix + {loss.per:g} L_per + {loss.adv:g} L_adv,"
            f" routing {loss.routing}"
        ),
        f"steps: {config.optim.iterations} iterations",
        f"learning rates: {schedule_description(config)}",
        f"EMA of G: {f'decay {ema:g}' if ema is not None else 'none'}",
        f"intervals: {intervals_description(run)}",
        f"speed: {speed_description(config, run.device)}",
    ]


def loader_description(run: Run) -> str:
    config, loader = run.config, run.data.loader
    accumulate = config.optim.accumulate
    micro_batches = (
        f"{accumulate} micro-batches of {loader.batch_size // accumulate}"
        if accumulate > 1
        else "1 micro-batch"
    )
    return (
        f"{loader.num_workers} worker processes, {config.data.hr_patch} px HR crops;"
        f" {micro_batches} per step"
    )


def discriminator_description(run: Run) -> str:
    if run.discriminator is None:
        return "none (loss.adv is 0)"
    model = run.config.model
    text = f"{model.discriminator}; {parameter_count(unwrap(run.discriminator))}"
    if model.init_discriminator_from is not None:
        text += f"; initialised from {model.init_discriminator_from}"
    return text


def schedule_description(config: TrainConfig) -> str:
    optim = config.optim
    text = f"G {optim.lr_g:g}, D {optim.lr_d:g}, Adam betas {tuple(optim.betas)}; "
    if optim.milestones and optim.gamma < 1:
        text += f"x{optim.gamma:g} after iterations {', '.join(map(str, optim.milestones))}"
    else:
        text += "no decay"
    if optim.warmup:
        text += f"; linear warm-up over {optim.warmup} iterations"
    if optim.grad_clip is not None:
        text += f"; gradient norms clipped at {optim.grad_clip:g}"
    return text


def intervals_description(run: Run) -> str:
    config, validation = run.config, run.config.validation
    logs = ", ".join(("log.jsonl", *chosen_loggers(config)))
    text = (
        f"log every {config.log_every} ({logs}), checkpoint every {config.checkpoint_every}"
        f" (the latest {config.keep_checkpoints} kept), "
    )
    if run.validator is None:
        return text + "no validation"
    return text + (
        f"validation every {validation.every} on {len(run.validator.pairs)} pairs of"
        f" {validation.root} (best by {validation.best_metric})"
    )


def resume_description(run: Run, start: int, resume: Path | str | None) -> str:
    if resume is None:
        return "a new run"
    source = latest_checkpoint(run.run_dir) if resume == "latest" else resume
    if source is None:
        return "--resume: no checkpoint yet, starts from iteration 0"
    return f"resumes from {source} at iteration {start}"


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return (
            f"{device}, {properties.name}, compute capability {properties.major}."
            f"{properties.minor}, {properties.total_memory / 2**30:.0f} GiB"
        )
    if device.type == "cpu":
        return f"cpu, {torch.get_num_threads()} threads"
    return str(device)


def precision_description(name: str, device: torch.device, dtype: torch.dtype) -> str:
    """The precision a run computes in, and why (rwsr.device: `auto` is the native one)."""
    chosen = PRECISION_NAMES[dtype]
    if name != "auto":
        return f"{chosen} (asked for, not auto)"
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        hardware = f"CUDA compute capability {major}.{minor}"
    else:
        hardware = {"cpu": "this CPU", "mps": "Apple MPS"}.get(device.type, device.type)
    if dtype == torch.bfloat16:
        return f"bf16 (auto: {hardware} runs bf16 natively)"
    if dtype == torch.float16:
        return (
            f"fp16 (auto: {hardware} has fp16 tensor cores but no native bf16; gradients"
            " scaled by a GradScaler)"
        )
    return f"fp32 (auto: {hardware} runs neither bf16 natively nor fp16 on tensor cores)"


def generator_description(run: Run) -> str:
    model = run.config.model
    generator = unwrap(run.generator)
    arch = generator.config
    facts = ", ".join(f"{key} {value}" for key, value in describe(arch).items())
    if isinstance(arch, RWSREDLConfig):
        facts += f", {arch.head.branches} branch(es), {arch.head.mask} mask"
    if model.freeze_trunk:
        facts += ", trunk frozen"
    if model.gradient_checkpointing:
        facts += ", gradient checkpointing"
    text = f"{model.generator} ({facts}); {parameter_count(generator)}"
    if model.init_from is not None:
        text += f"; initialised from {model.init_from}"
    return text


def parameter_count(model: nn.Module) -> str:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{total:,} parameters" + (f" ({trainable:,} trained)" if trainable != total else "")


def speed_description(config: TrainConfig, device: torch.device) -> str:
    """The `speed` switches that are on; cuDNN's and TF32's act on CUDA only."""
    cuda_only = {"cudnn_benchmark", "tf32"} if device.type != "cuda" else set()
    switches = [
        name + (" (CUDA only: no effect here)" if name in cuda_only else "")
        for name, on in config.speed.model_dump().items()
        if on
    ]
    return ", ".join(switches) or "none"


def estimate_line(
    seconds_per_step: float, *, iterations: int, start: int, warmup_steps: int, timed_steps: int
) -> str:
    """s/step and the hours of the configured iterations (training steps only: checkpoints
    and validations add their own time)."""
    remaining = max(iterations - start, 0)
    text = (
        f"estimate: {seconds_per_step:.3g} s/step ({timed_steps} timed steps after"
        f" {warmup_steps} warm-up); {iterations} iterations ="
        f" {seconds_per_step * iterations / 3600:.3g} h of steps"
    )
    if start:
        text += f", the {remaining} left = {seconds_per_step * remaining / 3600:.3g} h"
    return text + " (checkpoints and validations not counted)"
