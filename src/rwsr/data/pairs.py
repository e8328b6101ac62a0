"""LR/HR training pairs from source images (paper Eq. 9-10).

I_HR = bicubic_down(I_src, cleanup)   (Eq. 9: shrinking removes most sensor noise/blur)
I_LR = bicubic_down(I_HR, scale)      (Eq. 10)

At scale 1 (CameraSR / City100, where the real LR is a lens-blurred photo of the same size)
LR = HR would teach nothing, so LR = bicubic_up_b(bicubic_down_b(HR)) with b = `x1_blur`:
the detail a x b camera would lose, at exactly HR's size (x1_blur = 1 gives LR = HR).

Bicubic is MATLAB's imresize (rwsr.data.imresize). The HR image is cropped at the bottom and
right to a multiple of `scale` (at scale 1: of `x1_blur`), so every LR pixel sits on the HR
grid: LR is exactly HR / scale. Already clean targets (e.g. DIV2K) use cleanup = 1. Images
keep their bit depth (8 or 16 bit) and are RGB.

`lr_window` makes a window of that LR from the HR pixels around it only: a training crop of a
clean photo costs a resize of about 150 px instead of the whole photo's, value for value the
same.

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

    @property
    def hr_multiple(self) -> int:
        """HR sides are cut to a multiple of this: the scale, at scale 1 x1_blur. At scale 1
        up_b(down_b(HR)) lines up with HR only when b divides its sides; otherwise the up pass
        stretches by H / ceil(H / b), and LR drifts up to a pixel from HR across the photo."""
        return self.scale if self.scale > 1 else self.x1_blur


def make_pair(
    source: np.ndarray, *, config: PairsConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR) arrays from one HxWxC source array, same dtype as the source.

    Scale > 1: LR = bicubic(HR, 1/scale). Scale 1: LR = bicubic(bicubic(HR, 1/x1_blur),
    size=HR's size), or HR itself when x1_blur is 1. HR sides: multiples of hr_multiple.
    """
    config = config or PairsConfig()
    hr = source if config.cleanup == 1 else imresize(source, 1.0 / config.cleanup)
    height = hr.shape[0] - hr.shape[0] % config.hr_multiple
    width = hr.shape[1] - hr.shape[1] % config.hr_multiple
    if height == 0 or width == 0:
        raise InputError(
            f"image of {source.shape[1]}x{source.shape[0]} pixels is too small for clean-up "
            f"x{config.cleanup} and scale x{config.scale}"
            + (f" (x1_blur {config.x1_blur})" if config.scale == 1 else "")
        )
    hr = np.ascontiguousarray(hr[:height, :width])
    return hr, _lr_of(hr, config)


def _lr_of(hr: np.ndarray, config: PairsConfig) -> np.ndarray:
    """Eq. 10 (at scale 1 the x1_blur recipe) of an HR array whose sides are multiples of
    config.hr_multiple."""
    if config.scale > 1:
        return imresize(hr, size=(hr.shape[0] // config.scale, hr.shape[1] // config.scale))
    if config.x1_blur > 1:
        return imresize(imresize(hr, 1.0 / config.x1_blur), size=hr.shape[:2])
    return hr


def lr_window(hr: np.ndarray, top: int, left: int, size: int, *, config: PairsConfig) -> np.ndarray:
    """Rows top:top+size, columns left:left+size of the LR that make_pair gives for its HR
    `hr`, made from the HR pixels that the bicubic kernels reach: the same values.

    The cubic kernel reaches 2 input pixels to each side, a shrink by f stretches that to
    2f HR pixels, and scale 1's up pass adds 2 down-sampled pixels (2 x1_blur HR pixels).
    The HR window starts on a multiple of hr_multiple, so its pixels sit on the whole
    photo's grid, and ends at most at the photo's edge, which it mirrors as the photo does.
    """
    step, scale = config.hr_multiple, config.scale
    if hr.shape[0] % step or hr.shape[1] % step:
        raise ValueError(
            f"Expected make_pair's HR (sides multiples of {step}), but got {hr.shape[1]}x"
            f"{hr.shape[0]}"
        )
    if step == 1:  # scale 1 without blur: LR is HR
        return hr[top : top + size, left : left + size]
    reach = 2 * step if scale > 1 else 4 * step

    def span(start: int, length: int) -> tuple[int, int]:
        """HR range of LR [start, start + size), widened by the reach to whole steps."""
        first = (start * scale - reach) // step * step
        last = -(-((start + size) * scale + reach) // step) * step
        return max(0, first), min(length, last)

    (y0, y1), (x0, x1) = span(top, hr.shape[0]), span(left, hr.shape[1])
    lr = _lr_of(np.ascontiguousarray(hr[y0:y1, x0:x1]), config)
    top, left = top - y0 // scale, left - x0 // scale
    return lr[top : top + size, left : left + size]


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
