"""Decode a set of images in parallel and keep only their patch statistics.

Only the small per-window statistics travel back from the workers, so memory stays bounded
by a few decoded images per worker whatever the size of the set. Images that cannot be used
(unreadable, smaller than one patch) are recorded with the reason, never fatal.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwsr.data.ngdc.patches import PatchStats, patch_statistics
from rwsr.data.parallel import WorkerPool, run_per_file
from rwsr.errors import InputError
from rwsr.imageio import read_image


@dataclass(frozen=True)
class ImageScan:
    """One image: its size and, when usable, the statistics of its windows."""

    path: Path
    width: int = 0
    height: int = 0
    dtype: str = ""
    stats: PatchStats | None = None
    error: str | None = None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def scan_image(path: Path, *, patch: int) -> ImageScan:
    image = read_image(path)
    height, width = image.shape[:2]
    try:
        stats = patch_statistics(image, patch=patch)
    except InputError as error:
        return ImageScan(path, width, height, str(image.dtype), error=f"{path}: {error}")
    return ImageScan(path, width, height, str(image.dtype), stats)


@dataclass(frozen=True)
class SetScan:
    """All images of one set, in the order given."""

    images: list[ImageScan]

    @property
    def usable(self) -> list[ImageScan]:
        return [image for image in self.images if image.stats is not None]

    @property
    def megapixels(self) -> float:
        return sum(image.megapixels for image in self.images)

    def candidates(self, *, exclude_clipped: bool) -> tuple[np.ndarray, np.ndarray]:
        """(variance, mean) of every window that may define a CATI."""
        variances, means = [], []
        for image in self.usable:
            assert image.stats is not None
            keep = ~image.stats.clipped if exclude_clipped else slice(None)
            variances.append(image.stats.variance[keep])
            means.append(image.stats.mean[keep])
        if not variances:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(variances), np.concatenate(means)


def scan_set(
    paths: Sequence[Path],
    *,
    patch: int,
    workers: int | WorkerPool = 1,
    progress: bool = True,
    label: str = "",
) -> SetScan:
    """Statistics of every image of `paths`; failures become ImageScan entries with an error."""
    work = functools.partial(scan_image, patch=patch)
    by_path: dict[Path, ImageScan] = {}
    description = f"scan {label}".strip()
    outcomes = run_per_file(
        work, paths, workers=workers, description=description, progress=progress
    )
    for outcome in outcomes:
        if outcome.result is not None:
            by_path[outcome.item] = outcome.result
        else:
            by_path[outcome.item] = ImageScan(outcome.item, error=outcome.error)
    return SetScan([by_path[path] for path in paths])
