"""Distillation: a fast student trained to do what a slow teacher does, on the user's photos.

Why: on a CPU an upscaler's speed is its FLOPs (README "Speed"); Real-ESRGAN's compact network
has ~15x fewer than an x4 RRDBNet. Trained against a large model's outputs on the photos it
will serve, it learns that model's look there, and needs no ground truth.

Top to bottom:
1. `teacher_cache` (rwsr.train.teacher_cache): crops of the photos and the teacher's outputs
   for them, computed once, resumable, bounded on disk.
2. `train_student`: L1 (and, weighted, the perceptual loss) between the student's output and
   the teacher's; Adam; an EMA of the weights (the exported ones); flips and 90-degree
   rotations. The batch of step i is a function of (seed, i) alone, so a resumed run goes
   on exactly. One checkpoint dict, written atomically; rwsr also reads it as a model file.
3. `export`: the EMA student as rwsr safetensors, and a NOTICE (teacher and its SHA-256,
   photos, crops, student, steps, losses, date, rwsr commit) in its metadata and beside it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

import rwsr
from rwsr.atomic import atomic_path, write_text_atomic
from rwsr.device import resolve_device, resolve_precision
from rwsr.errors import CheckpointError, ConfigError, InputError
from rwsr.models.catalog import BUILTIN_ARCHITECTURES, architecture_config, build_model
from rwsr.models.catalog import generator_scale as scale_of
from rwsr.models.checkpoint import non_finite_tensors, save_model
from rwsr.models.compact import CompactConfig
from rwsr.models.foreign import SpandrelGenerator
from rwsr.models.vgg import PERCEPTUAL_NETS, VGGFeatureExtractor
from rwsr.models.zoo import load_generator
from rwsr.outputs import check_output_dir
from rwsr.train.distill_config import DistillConfig
from rwsr.train.losses import PerceptualLoss
from rwsr.train.teacher_cache import (
    CropSet,
    Say,
    Teacher,
    check_model_name,
    find_photos,
    load_teacher,
    say_on_stderr,
    teacher_cache,
)
from rwsr.train.trainer import TrainingError

CHECKPOINT = "checkpoint.pt"
STUDENT = "student.safetensors"
NOTICE = "NOTICE"
# What a resumed run may change. The crops it trains on are checked by their digest instead
# (the photos may move; a bound that keeps the same crops is no change).
RESUMABLE_CHANGES = frozenset(
    {
        "photos",
        "output",
        "cache",
        "max_cache_mb",
        "iterations",
        "checkpoint_every",
        "device",
        "dtype",
    }
)

# ----------------------------------------------------------------------------- models


def build_student(
    spec: str | None, scale: int, *, teacher: str, crop: int
) -> tuple[nn.Module, str]:
    """The student and how to name it: Real-ESRGAN's compact network at the teacher's scale
    (None), a built-in architecture (random start), or a zoo model / file (its weights are
    the start; spandrel architectures too). Its scale must be the teacher's, and it must take
    `crop`-pixel inputs as they are."""
    if spec is None:
        model, what = build_model(CompactConfig(scale=scale)), f"compact-x{scale}, random start"
    elif spec in BUILTIN_ARCHITECTURES:
        config = architecture_config(spec)
        if config.arch in ("patchgan", "vgg128"):
            raise ConfigError(f"--student {spec} is a discriminator, not a generator")
        model, what = build_model(config), f"{spec}, random start"
    else:
        check_model_name(spec, "--student")
        loaded = load_generator(spec, progress=False)
        model = loaded.model.float()
        what = f"{getattr(loaded.config, 'architecture', loaded.config.arch)}, started from {spec}"
    if scale_of(model.config) != scale:
        raise ConfigError(
            f"--student {spec} is x{scale_of(model.config)}, but the teacher {teacher} is"
            f" x{scale}; a student needs the teacher's scale (without --student: compact-x{scale})"
        )
    if isinstance(model, SpandrelGenerator):
        needs = model.descriptor.size_requirements  # type: ignore[attr-defined]
        if not needs.check(crop, crop):
            raise ConfigError(
                f"--crop {crop}: the student {spec} ({model.config.architecture}) takes sides"
                f" that are multiples of {needs.multiple_of}, at least {needs.minimum}"
            )
    parameters = sum(p.numel() for p in model.parameters())
    return model, f"{what}, {parameters:,} parameters"


def trainable(model: nn.Module) -> nn.Module:
    """The module to train: a spandrel model's own network (its descriptor's call runs in
    inference mode and clamps), else the model."""
    return model.net if isinstance(model, SpandrelGenerator) else model


def build_perceptual(config: DistillConfig) -> PerceptualLoss | None:
    if config.perceptual == 0:
        return None
    extractor = VGGFeatureExtractor(
        net=config.perceptual_net,
        weights_path=config.vgg_weights,
        allow_random=config.allow_random_vgg,
        option="--vgg-weights PATH",
    )
    return PerceptualLoss(extractor, {extractor.layers[0]: 1.0})


def losses_description(config: DistillConfig) -> str:
    if config.perceptual == 0:
        return "L1"
    net = PERCEPTUAL_NETS[config.perceptual_net]
    random = config.allow_random_vgg and config.vgg_weights is None
    weights = "RANDOM weights: tests only" if random else "ImageNet"
    return f"L1 + {config.perceptual:g} x perceptual ({net.name} {net.default_layer}, {weights})"


# ----------------------------------------------------------------------------- training


def _dihedral(image: np.ndarray, op: int) -> np.ndarray:
    """One of the 8 flips and 90-degree rotations of an HxWxC array."""
    turned = np.rot90(image, op % 4)
    return turned[:, ::-1] if op >= 4 else turned


def batch_at(
    crops: CropSet, iteration: int, *, seed: int, size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of step `iteration` (a function of seed and step alone): crops and the
    teacher's outputs, the same flip or rotation applied to both, NCHW float in [0, 1]."""
    rng = np.random.default_rng([seed, iteration])
    picks, ops = rng.integers(0, len(crops.lr), size), rng.integers(0, 8, size)

    def tensor(images: np.ndarray) -> torch.Tensor:
        stacked = np.stack([_dihedral(images[i], op) for i, op in zip(picks, ops)])
        return torch.from_numpy(stacked).to(device).permute(0, 3, 1, 2).float() / 255

    return tensor(crops.lr), tensor(crops.teacher)


@dataclasses.dataclass
class Student:
    """The student being trained and its training state."""

    model: nn.Module  # the whole model (it carries .config)
    net: nn.Module  # what is trained: `trainable(model)`
    ema: AveragedModel
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    iteration: int = 0


def new_student(model: nn.Module, config: DistillConfig, device: torch.device) -> Student:
    model.to(device)
    net = trainable(model).train().requires_grad_(True)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(0.9, 0.99))
    dtype = resolve_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return Student(model, net, ema, optimizer, scaler)


def checkpoint_state(student: Student, config: DistillConfig, crops: CropSet) -> dict[str, Any]:
    """One plain dict: all `--resume` needs. Its generator keys make it a model file too."""
    return {
        "iteration": student.iteration,
        "config": config.model_dump_json(),
        "crops_digest": crops.digest,
        "generator_config": student.model.config.model_dump_json(),
        "generator": student.net.state_dict(),
        "generator_ema": student.ema.module.state_dict(),
        "ema_updates": int(student.ema.n_averaged),
        "optimizer": student.optimizer.state_dict(),
        "scaler": student.scaler.state_dict(),
    }


def read_checkpoint_state(path: Path, config: DistillConfig) -> dict[str, Any]:
    """A distillation checkpoint of the same recipe (RESUMABLE_CHANGES aside)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncated zip, pickle errors alike
        raise CheckpointError(
            f"{path}: cannot read the distillation checkpoint ({error})"
        ) from None
    if not isinstance(state, dict) or "crops_digest" not in state:
        raise CheckpointError(f"{path}: not an `rwsr distill` checkpoint")
    stored, current = json.loads(state["config"]), json.loads(config.model_dump_json())
    changed = [
        f"{name}: {stored.get(name)!r} -> {current.get(name)!r}"
        for name in sorted(stored.keys() | current.keys())
        if stored.get(name) != current.get(name) and name not in RESUMABLE_CHANGES
    ]
    if changed:
        raise ConfigError(
            f"{path}: was distilled with other settings ({', '.join(changed[:6])}); resume with"
            " the same options, or start again with --overwrite"
        )
    return state


def restore(student: Student, state: dict[str, Any], crops: CropSet, path: Path) -> None:
    if state["crops_digest"] != crops.digest:
        raise ConfigError(
            f"{path}: was trained on other crops (other photos, or another number per photo);"
            " resume with the same photos and --crops-per-photo, or start again with --overwrite"
        )
    student.net.load_state_dict(state["generator"])
    student.ema.module.load_state_dict(state["generator_ema"])
    student.ema.n_averaged.fill_(state["ema_updates"])
    student.optimizer.load_state_dict(state["optimizer"])
    student.scaler.load_state_dict(state["scaler"])
    student.iteration = state["iteration"]


def save_checkpoint(student: Student, config: DistillConfig, crops: CropSet) -> None:
    """Atomically, once the weights are finite (a broken state would replace a good one)."""
    bad = non_finite_tensors(student.net) + non_finite_tensors(student.ema.module)
    if bad:
        raise TrainingError(
            f"step {student.iteration}: NaN/Inf weights ({', '.join(bad[:3])}); nothing was"
            " saved; lower --lr, or use --precision fp32"
        )
    with atomic_path(config.output / CHECKPOINT, overwrite=True) as tmp:
        torch.save(checkpoint_state(student, config, crops), tmp)


def learning_rate(config: DistillConfig, iteration: int) -> float:
    """The rate of step `iteration` (from 1): config.lr after a linear warm-up. A function of
    the step alone, so a resumed run keeps the schedule."""
    return config.lr * min(1.0, iteration / config.warmup) if config.warmup else config.lr


def train_student(
    student: Student,
    crops: CropSet,
    config: DistillConfig,
    *,
    perceptual: PerceptualLoss | None,
    progress: bool = True,
) -> None:
    """Steps from `student.iteration` to config.iterations (module docstring, step 2)."""
    device = next(student.net.parameters()).device
    dtype = resolve_precision(config.precision, device)
    weights = {"l1": 1.0, "per": config.perceptual}
    bar = tqdm(total=config.iterations, initial=student.iteration, unit="it", disable=not progress)
    while student.iteration < config.iterations:
        student.iteration += 1
        for group in student.optimizer.param_groups:
            group["lr"] = learning_rate(config, student.iteration)
        low, target = batch_at(
            crops, student.iteration, seed=config.seed, size=config.batch_size, device=device
        )
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            out = student.net(low).float()
            losses = {"l1": F.l1_loss(out, target)}
            if perceptual is not None:
                losses["per"] = perceptual(out, target)
        total = sum(weights[name] * value for name, value in losses.items())
        if not torch.isfinite(total):
            kept = config.output / CHECKPOINT
            raise TrainingError(
                f"step {student.iteration}: the loss is not finite; "
                + (f"{kept} holds the last good step" if kept.exists() else "nothing was saved")
                + "; lower --lr, or use --precision fp32"
            )
        student.optimizer.zero_grad(set_to_none=True)
        student.scaler.scale(total).backward()
        student.scaler.step(student.optimizer)
        student.scaler.update()
        student.ema.update_parameters(student.net)
        bar.update(1)
        bar.set_postfix({name: f"{float(value.detach()):.4g}" for name, value in losses.items()})
        if student.iteration % config.checkpoint_every == 0:
            save_checkpoint(student, config, crops)
    bar.close()
    save_checkpoint(student, config, crops)


# ----------------------------------------------------------------------------- export


def rwsr_commit() -> str:
    """`git describe --always --dirty` of the rwsr checkout this code runs from, or '' when
    it runs from an installed package (not from its own repository)."""
    repository = Path(__file__).resolve().parents[3]
    if not (repository / ".git").exists() or not (repository / "src" / "rwsr").is_dir():
        return ""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def notice_text(config: DistillConfig, teacher: Teacher, crops: CropSet, student: str) -> str:
    """The NOTICE of a distilled student: where its weights come from."""
    commit = rwsr_commit()
    facts = {
        "Teacher": f"{teacher.name} (SHA-256 {teacher.sha256}), x{teacher.scale},"
        f" run in {crops.precision}",
        "Photos": f"{crops.photos}; crops: {len(crops.lr)} ({crops.per_photo} per photo,"
        f" {config.crop}x{config.crop} px)",
        "Student": student,
        "Training": f"{config.iterations} iterations, batch {config.batch_size}, Adam lr"
        f" {config.lr:g} (warm-up {config.warmup} steps), EMA {config.ema_decay:g} (exported), flips and 90-degree rotations,"
        f" seed {config.seed}",
        "Losses": f"{losses_description(config)}, against the teacher's outputs",
        "Date": datetime.date.today().isoformat(),
        "rwsr": rwsr.__version__ + (f", commit {commit}" if commit else ""),
    }
    return (
        f"{STUDENT}: a student distilled by `rwsr distill` to reproduce its teacher's outputs.\n\n"
        + "".join(f"{name}: {value}\n" for name, value in facts.items())
        + "\nThe weights derive from the teacher's outputs: the teacher's licence terms"
        f" (`rwsr info {teacher.name}`) may apply to them.\n"
    )


def export(student: Student, config: DistillConfig, notice: str) -> Path:
    """The EMA weights as rwsr safetensors with the NOTICE in its metadata, and NOTICE beside
    it; the run's own files, replaced on a resumed run."""
    exported = copy.deepcopy(student.model).cpu()
    trainable(exported).load_state_dict(student.ema.module.state_dict())
    path = config.output / STUDENT
    save_model(
        exported,
        path,
        dtype=torch.float16 if config.dtype == "float16" else torch.float32,
        overwrite=True,
        metadata={"source": f"rwsr distill of {config.teacher}", "notice": notice},
    )
    write_text_atomic(config.output / NOTICE, notice, overwrite=True)
    return path


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass(frozen=True)
class Distilled:
    model: Path  # the exported student
    notice: Path
    crops: int  # crops trained on
    computed: int  # of them, crops the teacher ran on in this call
    iterations: int


def distill(
    config: DistillConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    say: Say = say_on_stderr,
) -> Distilled:
    """Cache the teacher's outputs, train the student, export it (module docstring).

    `resume` continues config.output's checkpoint; `overwrite` starts again there (and
    replaces a --cache of other settings). Everything is opened and checked (output, resume
    state, photos, teacher, student, VGG weights) before the teacher runs."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    check_output_dir(config.output, option="-o")
    checkpoint = config.output / CHECKPOINT
    if not (resume or overwrite) and (checkpoint.exists() or (config.output / STUDENT).exists()):
        raise InputError(
            f"-o {config.output}: already holds a distillation; pass --resume to continue it or"
            " --overwrite to start again"
        )
    state = read_checkpoint_state(checkpoint, config) if resume and checkpoint.exists() else None
    if resume and state is None:
        say(f"no {CHECKPOINT} in {config.output}; starting from step 0")
    photos, notes = find_photos(config.photos)
    for note in notes:
        say(f"warning: {note}")
    device = resolve_device(config.device)
    resolve_precision(config.precision, device)  # fp16 on a CPU is refused before any work
    teacher = load_teacher(config.teacher, progress=progress)
    torch.manual_seed(config.seed)
    model, described = build_student(
        config.student, teacher.scale, teacher=config.teacher, crop=config.crop
    )
    perceptual = build_perceptual(config)
    crops = teacher_cache(
        photos,
        teacher,
        config,
        folder=config.cache or config.output / "teacher-cache",
        overwrite=overwrite,
        progress=progress,
        say=say,
    )
    say(
        f"{len(crops.lr)} crops of {crops.photos} photos ({crops.computed} computed now, the rest"
        f" cached); student: {described}; losses: {losses_description(config)}"
    )
    student = new_student(model, config, device)
    if perceptual is not None:
        perceptual = perceptual.to(device)
    if state is not None:
        restore(student, state, crops, checkpoint)
        say(f"resumed from {checkpoint} at step {student.iteration}")
    train_student(student, crops, config, perceptual=perceptual, progress=progress)
    notice = notice_text(config, teacher, crops, described)
    path = export(student, config, notice)
    return Distilled(path, config.output / NOTICE, len(crops.lr), crops.computed, student.iteration)
