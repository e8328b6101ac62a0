"""The training loop of RWSR-EDL, readable top to bottom.

setup (distributed, data, models, losses, optimisers) -> resume -> for each iteration:
G step on the routed losses, D step (RaGAN on the fused output), schedulers, EMA, logs,
checkpoints, validation -> final checkpoint, exported generator, curves.

Multi-GPU and multi-node: start with torchrun; one DDP block keyed on its environment
(RANK, WORLD_SIZE, LOCAL_RANK); gloo on the CPU, NCCL on GPUs.

Exact resume: the data order of epoch e is a function of (seed, e, rank) alone, so a resumed
run re-creates epoch e and skips the batches already used; with the RNG, optimiser,
scheduler, scaler and EMA states restored, N + M iterations equal N, kill, resume, M.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from rwsr.data.datasets import load_pairs
from rwsr.data.noise_bank import open_bank
from rwsr.data.training_set import PairDataset, TrainingSetConfig
from rwsr.errors import ConfigError, RwsrError
from rwsr.models.catalog import architecture_config, build_model
from rwsr.models.checkpoint import convert_to_native, load_weights_into, read_checkpoint, save_model
from rwsr.models.edl import RWSREDL, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.vgg import VGGFeatureExtractor
from rwsr.train.config import TrainConfig
from rwsr.train.logs import RunLog, plot_curves
from rwsr.train.losses import PerceptualLoss, discriminator_loss, generator_losses
from rwsr.train.state import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from rwsr.upscale.device import resolve_device, resolve_precision


class TrainingError(RwsrError):
    """Training cannot go on (e.g. losses keep coming out NaN)."""


@dataclasses.dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> Distributed:
    """DDP when started by torchrun with more than one process, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Distributed(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    )


def build_generator(config: TrainConfig, say) -> nn.Module:
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
        state, _ = read_checkpoint(config.model.init_from)
        layout, native = convert_to_native(state, config.model.init_from)
        report = load_weights_into(generator, native, strict=False, path=config.model.init_from)
        if not report.loaded:
            raise ConfigError(
                f"model.init_from: {config.model.init_from} shares no weights with {config.model.generator}"
            )
        say(f"G initialised from {config.model.init_from} ({layout}): {report.summary()}")
    trunk = generator.rrdb if isinstance(generator, RWSREDL) else generator
    if isinstance(trunk, RRDBNet):
        trunk.gradient_checkpointing = config.model.gradient_checkpointing
    if config.model.freeze_trunk:
        generator.rrdb.requires_grad_(False)
    return generator


MIN_BATCHES_PER_EPOCH = 100


def epoch_batches(
    loader: DataLoader, dataset: PairDataset, *, seed: int, rank: int, start_iteration: int
) -> Iterator[dict[str, Any]]:
    """Endless batches; epoch e's order and crops depend only on (seed, e, rank)."""
    per_epoch = len(loader)
    epoch, skip = divmod(start_iteration, per_epoch)
    while True:
        dataset.set_epoch(epoch)
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        loader.generator.manual_seed(seed * 1_000_003 + epoch * 101 + rank)
        for index, batch in enumerate(loader):
            if index >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def train(config: TrainConfig, *, resume: Path | str | None = None, progress: bool = True) -> Path:
    """Run (or continue, with `resume` = a checkpoint path or "latest") one training run.

    Returns the run folder: checkpoints/, best.pt, generator.safetensors, log.jsonl,
    curves.png, config.json.
    """
    device = resolve_device(config.device)
    ddp = init_distributed(device.type)
    if ddp.world > 1 and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    dtype = resolve_precision(config.precision, device)
    run_dir = config.output_dir / config.name
    say = (
        (lambda message: tqdm.write(message, file=sys.stderr))
        if ddp.main
        else (lambda message: None)
    )
    torch.manual_seed(config.seed + ddp.rank)

    # ---- data
    pairs = load_pairs(
        config.data.root,
        layout=config.data.layout,
        split=config.data.split,
        scale=config.data.scale,
    )
    bank = open_bank(config.data.noise_bank) if config.data.noise_bank is not None else None
    dataset = PairDataset(
        pairs,
        config=TrainingSetConfig(
            hr_patch=config.data.hr_patch,
            augment=config.data.augment,
            noise_probability=config.data.noise_probability,
            seed=config.seed + 7919 * ddp.rank,
            preload=config.data.preload,
        ),
        bank=bank,
    )
    # Worker processes restart at every epoch (the per-epoch seeding of the crops needs that).
    # With few pairs an epoch is a handful of steps and the restarts dominate a GPU step, so
    # with workers an epoch draws at least MIN_BATCHES_PER_EPOCH batches (whole permutations
    # of the set, one after another).
    samples = len(dataset)
    if config.data.workers > 0:
        samples = max(samples, MIN_BATCHES_PER_EPOCH * config.data.batch_size)
    sampler = (
        DistributedSampler(
            dataset, num_replicas=ddp.world, rank=ddp.rank, seed=config.seed, drop_last=True
        )
        if ddp.world > 1
        else RandomSampler(dataset, num_samples=samples, generator=torch.Generator())
    )
    loader = DataLoader(
        dataset,
        batch_size=config.data.batch_size,
        sampler=sampler,
        num_workers=config.data.workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),
    )
    if isinstance(sampler, RandomSampler):
        sampler.generator = loader.generator  # one generator per epoch drives order and workers
    if len(loader) == 0:
        raise ConfigError(
            f"data: {len(dataset)} pairs per process are fewer than data.batch_size {config.data.batch_size}"
        )

    # ---- models, losses, optimisers
    generator = build_generator(config, say).to(device)
    weights = {"pix": config.loss.pix, "per": config.loss.per, "adv": config.loss.adv}
    discriminator = (
        build_model(architecture_config(config.model.discriminator)).to(device)
        if config.loss.adv > 0
        else None
    )
    perceptual = None
    if config.loss.per > 0:
        extractor = VGGFeatureExtractor(
            layers=tuple(config.loss.vgg_layers),
            weights_path=config.loss.vgg_weights,
            allow_random=config.loss.allow_random_vgg,
        )
        perceptual = PerceptualLoss(extractor, config.loss.vgg_layers).to(device)
    ema = (
        AveragedModel(
            generator, multi_avg_fn=get_ema_multi_avg_fn(config.optim.ema_decay), use_buffers=True
        )
        if config.optim.ema_decay is not None
        else None
    )
    trainable = [p for p in generator.parameters() if p.requires_grad]
    opt_g = torch.optim.Adam(trainable, lr=config.optim.lr_g, betas=config.optim.betas)
    sched_g = torch.optim.lr_scheduler.MultiStepLR(
        opt_g, config.optim.milestones, config.optim.gamma
    )
    opt_d = sched_d = None
    if discriminator is not None:
        opt_d = torch.optim.Adam(
            discriminator.parameters(), lr=config.optim.lr_d, betas=config.optim.betas
        )
        sched_d = torch.optim.lr_scheduler.MultiStepLR(
            opt_d, config.optim.milestones, config.optim.gamma
        )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    if ddp.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        # A branch that no loss reaches (e.g. pixel loss only, routed) gets no gradient.
        branch_x_used = config.loss.adv > 0 or config.loss.per > 0
        branch_y_used = config.loss.pix > 0 or config.loss.per > 0
        unused = config.loss.routing != "weighted-sum" and not (branch_x_used and branch_y_used)
        generator = DistributedDataParallel(
            generator, device_ids=ids, find_unused_parameters=unused
        )
        if discriminator is not None:
            discriminator = DistributedDataParallel(discriminator, device_ids=ids)

    # ---- resume
    start, best = 0, None
    resume_path = (
        latest_checkpoint(run_dir) if resume == "latest" else (Path(resume) if resume else None)
    )
    if resume == "latest" and resume_path is None:
        say(f"no checkpoint in {run_dir / 'checkpoints'}; starting from iteration 0")
    if resume_path is not None:
        state = load_checkpoint(resume_path)
        unwrap(generator).load_state_dict(state["generator"])
        opt_g.load_state_dict(state["opt_g"])
        sched_g.load_state_dict(state["sched_g"])
        if discriminator is not None:
            unwrap(discriminator).load_state_dict(state["discriminator"])
            opt_d.load_state_dict(state["opt_d"])
            sched_d.load_state_dict(state["sched_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        scaler.load_state_dict(state["scaler"])
        restore_rng_state(
            state["rng"][ddp.rank] if ddp.rank < len(state["rng"]) else state["rng"][0]
        )
        start, best = state["iteration"], state.get("best")
        say(f"resumed from {resume_path} at iteration {start}")
    elif latest_checkpoint(run_dir) is not None:
        raise ConfigError(
            f"{run_dir} already holds checkpoints; pass --resume to continue it or pick another name"
        )
    if ddp.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.model_dump_json(indent=2))
    log = RunLog(run_dir, start_iteration=start) if ddp.main else None

    def training_state(iteration: int) -> dict[str, Any]:
        all_rng = [rng_state()]
        if ddp.world > 1:
            all_rng = [None] * ddp.world
            dist.all_gather_object(all_rng, rng_state())
        return {
            "iteration": iteration,
            "config": config.model_dump_json(),
            "generator": unwrap(generator).state_dict(),
            "generator_ema": ema.module.state_dict() if ema is not None else None,
            "discriminator": unwrap(discriminator).state_dict()
            if discriminator is not None
            else None,
            "opt_g": opt_g.state_dict(),
            "sched_g": sched_g.state_dict(),
            "opt_d": opt_d.state_dict() if opt_d is not None else None,
            "sched_d": sched_d.state_dict() if sched_d is not None else None,
            "ema": ema.state_dict() if ema is not None else None,
            "scaler": scaler.state_dict(),
            "rng": all_rng,
            "best": best,
        }

    def evaluation_model() -> nn.Module:
        return copy.deepcopy(ema.module if ema is not None else unwrap(generator))

    # ---- the loop
    autocast = (
        (lambda: torch.autocast(device.type, dtype=dtype))
        if dtype != torch.float32
        else contextlib.nullcontext
    )
    batches = epoch_batches(loader, dataset, seed=config.seed, rank=ddp.rank, start_iteration=start)
    window: dict[str, list[float]] = {}
    bad_steps, data_wait, window_start = 0, 0.0, time.perf_counter()
    bar = tqdm(
        total=config.optim.iterations, initial=start, unit="it", disable=not (progress and ddp.main)
    )
    for iteration in range(start + 1, config.optim.iterations + 1):
        waited = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - waited
        lr_image = batch["lr"].to(device, non_blocking=True)
        hr_image = batch["hr"].to(device, non_blocking=True)

        # generator step: D frozen, losses routed to the branches
        generator.train()
        if discriminator is not None:
            discriminator.requires_grad_(False)
        with autocast():
            out = (
                generator(lr_image, return_terms=True)
                if isinstance(unwrap(generator), RWSREDL)
                else generator(lr_image)
            )
            losses = generator_losses(
                out,
                hr_image,
                routing=config.loss.routing,
                weights=weights,
                perceptual=perceptual,
                discriminator=discriminator,
            )
        sr = out.sr if not isinstance(out, torch.Tensor) else out
        d_loss = None
        if discriminator is not None:
            discriminator.requires_grad_(True)
            with autocast():
                d_loss = discriminator_loss(discriminator, sr, hr_image)
        finite = torch.tensor(
            float(torch.isfinite(losses["total"]) and (d_loss is None or torch.isfinite(d_loss))),
            device=device,
        )
        if ddp.world > 1:  # every rank skips together, or the gradient all-reduce would hang
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not finite:
            bad_steps += 1
            say(
                f"warning: non-finite loss at iteration {iteration}; step skipped"
                f" ({bad_steps}/{config.max_bad_steps})"
            )
            if bad_steps >= config.max_bad_steps:
                raise TrainingError(
                    f"{bad_steps} consecutive non-finite steps up to iteration {iteration}; stopped."
                    f" The last good checkpoint is {latest_checkpoint(run_dir)}; try a lower"
                    " learning rate or --precision fp32"
                )
        else:
            bad_steps = 0
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.step(opt_g)
            if discriminator is not None:
                opt_d.zero_grad(set_to_none=True)
                scaler.scale(d_loss).backward()
                scaler.step(opt_d)
            scaler.update()
            if ema is not None:
                ema.update_parameters(unwrap(generator))
            for name, value in losses.items():
                window.setdefault(name, []).append(float(value.detach()))
            if d_loss is not None:
                window.setdefault("d", []).append(float(d_loss.detach()))
        # Schedules follow the iteration count, skipped steps included, as resume does.
        sched_g.step()
        if sched_d is not None:
            sched_d.step()
        bar.update(1)
        if iteration % config.log_every == 0 or iteration == config.optim.iterations:
            elapsed = time.perf_counter() - window_start
            steps = len(window.get("total", [])) or 1
            record = {k: sum(v) / len(v) for k, v in window.items()}
            record.update(
                lr_g=sched_g.get_last_lr()[0],
                it_per_s=steps / elapsed,
                data_wait=data_wait / elapsed,
                world_size=ddp.world,
            )
            bar.set_postfix(
                {k: f"{v:.3g}" for k, v in record.items() if k in ("pix", "per", "adv", "d")}
            )
            if log is not None:
                log.write("train", iteration, record)
            window, data_wait, window_start = {}, 0.0, time.perf_counter()

        if config.validation.root is not None and iteration % config.validation.every == 0:
            better = [False]
            if ddp.main:
                from rwsr.train.validation import validate

                scores = validate(evaluation_model(), config.validation, device=device)
                log.write("val", iteration, scores)
                say(
                    f"validation at {iteration}: "
                    + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
                )
                key = config.validation.best_metric
                better = [
                    best is None
                    or (scores[key] > best[key] if key == "psnr" else scores[key] < best[key])
                ]
                if better[0]:
                    best = {**scores, "iteration": iteration}
            if ddp.world > 1:  # every rank must join the RNG gather in training_state
                dist.broadcast_object_list(better, src=0)
            if better[0]:
                state = training_state(iteration)
                if ddp.main:
                    save_checkpoint(state, run_dir / "best.pt")

        if iteration % config.checkpoint_every == 0 or iteration == config.optim.iterations:
            state = training_state(iteration)  # every rank joins the RNG gather
            if ddp.main:
                save_checkpoint(
                    state, checkpoint_path(run_dir, iteration), keep=config.keep_checkpoints
                )
                save_model(
                    ema.module if ema is not None else unwrap(generator),
                    run_dir / "generator.safetensors",
                    overwrite=True,
                    metadata={"source": f"rwsr train {config.name}, iteration {iteration}"},
                )
    bar.close()
    if log is not None:
        log.close()
        plot_curves(log.path, run_dir / "curves.png")
    if ddp.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return run_dir
