"""Per-patch noise statistics on a grid (paper Sec. III-E, noise sampling).

Convention: statistics are taken on gray = BT.601 luma 0.299 R + 0.587 G + 0.114 B on the
0-255 scale (16-bit images are divided by 257), in float64, without rounding (PIL's 'L'
conversion, used by Impressionism's script, rounds to integers). Windows are s x s at stride s
from the top-left corner; every full window counts (the image's last partial row and column
of windows are left out). Variance is the population variance (numpy's var, ddof=0).
A patch is *clipped* when any of its RGB samples is 0 or the type's maximum: clipping cuts the
noise, so such patches do not show it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rwsr.errors import InputError

LUMA_BT601 = (0.299, 0.587, 0.114)


def luma(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8/uint16 RGB -> HxW float64 BT.601 luma on the 0-255 scale."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    gray = image.astype(np.float64) @ np.asarray(LUMA_BT601)
    if image.dtype == np.uint16:
        gray /= 257.0
    return gray


@dataclass(frozen=True)
class PatchStats:
    """Statistics of the grid windows of one image; arrays of one entry per window."""

    y: np.ndarray  # top row (int)
    x: np.ndarray  # left column (int)
    mean: np.ndarray  # luma mean, 0-255
    variance: np.ndarray  # luma variance, (0-255)^2
    clipped: np.ndarray  # bool: some RGB sample at 0 or at the maximum

    def __len__(self) -> int:
        return int(self.y.size)


def patch_statistics(image: np.ndarray, *, patch: int) -> PatchStats:
    """Mean, variance and clipping of every s x s window at stride s, vectorised.

    Raises InputError (without a file name: the caller adds it) for images smaller than one
    patch.
    """
    height, width = image.shape[:2]
    rows, cols = height // patch, width // patch
    if rows == 0 or cols == 0:
        raise InputError(
            f"image of {width}x{height} pixels is smaller than one {patch}x{patch} patch; "
            "use a smaller --patch or leave this image out"
        )
    crop = image[: rows * patch, : cols * patch]
    blocks = luma(crop).reshape(rows, patch, cols, patch)
    mean = blocks.mean(axis=(1, 3))
    variance = blocks.var(axis=(1, 3))
    peak = np.iinfo(image.dtype).max
    samples = crop.reshape(rows, patch, cols, patch, crop.shape[2])
    clipped = (samples.min(axis=(1, 3, 4)) == 0) | (samples.max(axis=(1, 3, 4)) == peak)
    y, x = np.meshgrid(np.arange(rows) * patch, np.arange(cols) * patch, indexing="ij")
    return PatchStats(
        y=y.ravel(),
        x=x.ravel(),
        mean=mean.ravel(),
        variance=variance.ravel(),
        clipped=clipped.ravel(),
    )
