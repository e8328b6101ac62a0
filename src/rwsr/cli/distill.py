"""`rwsr distill TEACHER PHOTOS... -o RUN`: a fast student trained to copy a slow model on
your own photos (rwsr.train.distill). Defaults and help come from DistillConfig's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rwsr.cli.common import Overwrite, Quiet, reports_errors, resumable
from rwsr.train.distill_config import DistillConfig

_FIELDS = DistillConfig.model_fields


def _default(name: str) -> Any:
    return _FIELDS[name].default


def _option(name: str) -> Any:
    return typer.Option(help=_FIELDS[name].description)


@reports_errors
def distill(
    teacher: Annotated[
        str,
        typer.Argument(
            help="Zoo name or model file to copy (any model rwsr loads, RWSR-EDL included)."
        ),
    ],
    photos: Annotated[
        list[Path], typer.Argument(help="Photo files and/or folders (searched recursively).")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Run folder: student.safetensors, NOTICE, checkpoint.pt, teacher-cache/.",
        ),
    ],
    student: Annotated[str | None, _option("student")] = None,
    cache: Annotated[Path | None, _option("cache")] = None,
    crop: Annotated[int, _option("crop")] = _default("crop"),
    crops_per_photo: Annotated[int, _option("crops_per_photo")] = _default("crops_per_photo"),
    max_cache_mb: Annotated[float, _option("max_cache_mb")] = _default("max_cache_mb"),
    iterations: Annotated[int, _option("iterations")] = _default("iterations"),
    batch_size: Annotated[int, _option("batch_size")] = _default("batch_size"),
    lr: Annotated[float, _option("lr")] = _default("lr"),
    warmup: Annotated[int, _option("warmup")] = _default("warmup"),
    ema_decay: Annotated[float, _option("ema_decay")] = _default("ema_decay"),
    perceptual: Annotated[float, _option("perceptual")] = _default("perceptual"),
    perceptual_net: Annotated[str, _option("perceptual_net")] = _default("perceptual_net"),
    vgg_weights: Annotated[Path | None, _option("vgg_weights")] = None,
    precision: Annotated[str, _option("precision")] = _default("precision"),
    device: Annotated[str, _option("device")] = _default("device"),
    dtype: Annotated[str, _option("dtype")] = _default("dtype"),
    seed: Annotated[int, _option("seed")] = _default("seed"),
    checkpoint_every: Annotated[int, _option("checkpoint_every")] = _default("checkpoint_every"),
    resume: Annotated[
        bool, typer.Option(help="Continue the run from its checkpoint (same options).")
    ] = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Distil TEACHER into a fast student on PHOTOS: the teacher's outputs on crops are
    computed once (cached), the student learns them, and RUN/student.safetensors (with a
    NOTICE) is the model for `rwsr upscale --model`."""
    from rwsr.train.distill import distill as run_distillation
    from rwsr.train.distill_config import distill_config

    config = distill_config(
        teacher=teacher,
        photos=tuple(photos),
        output=output,
        student=student,
        cache=cache,
        crop=crop,
        crops_per_photo=crops_per_photo,
        max_cache_mb=max_cache_mb,
        iterations=iterations,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        ema_decay=ema_decay,
        perceptual=perceptual,
        perceptual_net=perceptual_net,
        vgg_weights=vgg_weights,
        precision=precision,
        device=device,
        dtype=dtype,
        seed=seed,
        checkpoint_every=checkpoint_every,
    )
    with resumable(
        output,
        "rerun with --resume to continue from its last checkpoint (the teacher's outputs"
        " computed so far are kept)",
    ):
        result = run_distillation(config, resume=resume, overwrite=overwrite, progress=not quiet)
    typer.echo(
        f"done: {result.model} ({result.iterations} iterations on {result.crops} crops; NOTICE"
        f" beside it); use it with: rwsr upscale PHOTO -o DIR --model {result.model}",
        err=True,
    )
