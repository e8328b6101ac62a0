"""LR/HR training pairs from source images (paper Eq. 9-10).

I_HR = bicubic_down(I_src, cleanup)   (Eq. 9: shrinking removes most sensor noise/blur)
I_LR = bicubic_down(I_HR, scale)      (Eq. 10)

At scale 1 (CameraSR / City100, where the real LR is a lens-blurred photo of the same size)
LR = HR would teach nothing, so LR = bicubic_up_b(bicubic_down_b(HR)) with b = `x1_blur`:
the detail a x b camera would lose, at exactly HR's size (x1_blur = 1 gives LR = HR).

Bicubic is MATLAB's imresize (rwsr.data.imresize). The HR image is cropped at the bottom and
right to a multiple of `scale`, so LR is exactly HR / scale. Already clean targets (e.g.
DIV2K) use cleanup = 1. Images keep their bit depth (8 or 16 bit) and are RGB.

`generate_pairs` writes OUT/HR/<name>.png and OUT/LR/<name>.png: PNG, atomically, skipping
pairs that are already complete, so an interrupted run resumes where it stopped and ends with
the same files as an uninterrupted one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rwsr.data.imresize import imresize
from rwsr.data.parallel import WorkerPool, run_per_file
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image, write_image


class PairsConfig(BaseModel):
    """How pairs are made; the defaults are the authors' code (clean-up 2, scale 4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale: int = Field(4, ge=1, le=8, description="LR = HR / scale")
    cleanup: int = Field(2, ge=1, le=8, description="HR = source / cleanup; 1 = already clean")
    x1_blur: int = Field(
        2,
        ge=1,
        le=8,
        description=(
            "at scale 1, LR = bicubic_up_b(bicubic_down_b(HR)) with MATLAB imresize "
            "(rwsr.data.imresize), i.e. the detail a x b camera would lose; 1 = LR equals HR. "
            "Scales > 1 ignore it."
        ),
    )


def make_pair(
    source: np.ndarray, *, config: PairsConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR) arrays from one HxWxC source array, same dtype as the source.

    Scale > 1: LR = bicubic(HR, 1/scale). Scale 1: LR = bicubic(bicubic(HR, 1/x1_blur),
    size=HR's size), or HR itself when x1_blur is 1.
    """
    config = config or PairsConfig()
    hr = source if config.cleanup == 1 else imresize(source, 1.0 / config.cleanup)
    height = hr.shape[0] - hr.shape[0] % config.scale
    width = hr.shape[1] - hr.shape[1] % config.scale
    if height == 0 or width == 0:
        raise InputError(
            f"image of {source.shape[1]}x{source.shape[0]} pixels is too small for clean-up "
            f"x{config.cleanup} and scale x{config.scale}"
        )
    hr = np.ascontiguousarray(hr[:height, :width])
    lr_size = (height // config.scale, width // config.scale)
    if config.scale > 1:
        lr = imresize(hr, size=lr_size)
    elif config.x1_blur > 1:
        lr = imresize(imresize(hr, 1.0 / config.x1_blur), size=lr_size)
    else:
        lr = hr
    return hr, lr


@dataclass(frozen=True)
class PairJob:
    """One source image and the file name its pair gets."""

    source: Path
    name: str


@dataclass
class PairsSummary:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        return (
            f"{len(self.written)} pairs written, {len(self.skipped)} already done, "
            f"{len(self.failed)} failed"
        )


def pair_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    return out_dir / "HR" / name, out_dir / "LR" / name


def pair_files(jobs: Sequence[PairJob]) -> list[str]:
    """The files the pairs of `jobs` are written to, relative to the output folder: what a run
    record lists, so that --overwrite removes them and nothing else."""
    return [path.as_posix() for job in jobs for path in pair_paths(Path(), job.name)]


def jobs_for(sources: Sequence[Path], *, prefix: str = "") -> list[PairJob]:
    """One job per source, named <prefix><stem>.png; two sources with one stem are an error."""
    jobs = [PairJob(source, f"{prefix}{source.stem}.png") for source in sources]
    check_names(jobs)
    return jobs


def check_names(jobs: Sequence[PairJob]) -> None:
    """Refuse, naming both sources, when two jobs would write the same file.

    Names are compared without case, as a case-insensitive file system (macOS, Windows)
    would; call it on all the jobs of a run before any work starts.
    """
    seen: dict[str, PairJob] = {}
    for job in jobs:
        key = job.name.casefold()
        if key in seen:
            other = seen[key]
            same = "" if other.name == job.name else f" and {other.name} (same name but for case)"
            raise ConfigError(
                f"{other.source} and {job.source} would both be written as {job.name}{same}; "
                "rename one of them"
            )
        seen[key] = job


def write_pair(job: PairJob, *, out_dir: Path, config: PairsConfig, overwrite: bool) -> str:
    """Make and write the pair of one job.

    Without `overwrite`, a file left by an interrupted run (HR written, LR not yet) is kept if
    it is identical to the one we would write, and is an error if it differs.
    """
    source = read_image(job.source)
    try:
        hr, lr = make_pair(source, config=config)
    except InputError as error:
        raise InputError(f"{job.source}: {error}") from None
    hr_path, lr_path = pair_paths(out_dir, job.name)
    _write_or_verify(hr_path, hr, overwrite=overwrite)
    _write_or_verify(lr_path, lr, overwrite=overwrite)
    return job.name


def _write_or_verify(path: Path, image: np.ndarray, *, overwrite: bool) -> None:
    if overwrite or not path.exists():
        write_image(path, image, overwrite=overwrite)
        return
    if not np.array_equal(read_image(path, channels=None), image):
        raise InputError(
            f"{path}: already exists with other content; pass --overwrite to replace it"
        )


def generate_pairs(
    jobs: Sequence[PairJob],
    out_dir: str | Path,
    *,
    config: PairsConfig | None = None,
    workers: int | WorkerPool = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> PairsSummary:
    """Write the pairs of `jobs` under out_dir/HR and out_dir/LR; per-file errors are collected.

    A pair whose HR and LR files both exist is skipped unless `overwrite`; both files are
    written atomically, so an existing file is always a complete one.
    """
    out_dir = Path(out_dir)
    config = config or PairsConfig()
    summary = PairsSummary()
    todo = []
    for job in jobs:
        hr_path, lr_path = pair_paths(out_dir, job.name)
        if not overwrite and hr_path.exists() and lr_path.exists():
            summary.skipped.append(job.name)
        else:
            todo.append(job)
    work = functools.partial(write_pair, out_dir=out_dir, config=config, overwrite=overwrite)
    outcomes = run_per_file(work, todo, workers=workers, description="pairs", progress=progress)
    for outcome in outcomes:
        if outcome.error is not None:
            summary.failed.append((str(outcome.item.source), outcome.error))
        else:
            summary.written.append(outcome.item.name)
    return summary
