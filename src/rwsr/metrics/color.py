"""Colour conventions of the metrics: value scale, Y (BT.601, 16-235), MATLAB gray, border crop.

Peers disagree on these and their numbers differ by up to 1-2 dB, so each step is explicit:
- `to_float255` (rwsr.sample_types, beside the other conversions): uint8 as is, uint16 / 257,
  float [0, 1] * 255; float64. No rounding: images read from files are already integers
  (uint8-rounded, as MATLAB sees them).
- `rgb_to_y`: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in 0-255, i.e.
  MATLAB's rgb2ycbcr (BT.601, studio range 16-235) and BasicSR's Y. Not rounded (BasicSR's
  PSNR/SSIM); `rgb_to_y_uint8` gives MATLAB's uint8 result where a metric needs it (NIQE).
- `rgb_to_gray`: MATLAB's rgb2gray weights (BT.601 luma on the full 0-255 range).
- `crop_border`: the same number of pixels off every edge (default in reports: the scale).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rwsr.errors import InputError
from rwsr.sample_types import to_float255

Channels = Literal["rgb", "y"]
CHANNELS: tuple[Channels, ...] = ("rgb", "y")

# MATLAB rgb2ycbcr: Y row of the BT.601 matrix scaled to 219/255 (studio range) plus 16.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
Y_OFFSET = 16.0
# MATLAB rgb2gray: the first row of rgb2ntsc's inverse, as printed in its documentation.
GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def check_rgb(image: np.ndarray, *, what: str = "image") -> None:
    """Raise InputError unless `image` is HxWx3 or NxHxWx3."""
    if image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise InputError(
            f"{what}: expected an HxWx3 RGB image or an NxHxWx3 batch, but got shape {image.shape}"
        )


def is_gray(image: np.ndarray) -> bool:
    """Whether an HxWxC image holds no colour: one channel, or R = G = B everywhere (a gray
    file read as RGB)."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return True
    return bool(
        np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 1], image[..., 2])
    )


def rgb_to_y(rgb255: np.ndarray) -> np.ndarray:
    """(..., 3) RGB on 0-255 -> (..., 1) BT.601 Y on 16-235, float64, unrounded."""
    return (rgb255 @ Y_WEIGHTS + Y_OFFSET)[..., None]


def rgb_to_gray(rgb255: np.ndarray) -> np.ndarray:
    """(..., 3) RGB on 0-255 -> (..., 1) MATLAB rgb2gray luma, float64, unrounded."""
    return (rgb255 @ GRAY_WEIGHTS)[..., None]


def rgb_to_y_uint8(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (..., 1) Y as MATLAB's rgb2ycbcr returns it for uint8 (rounded
    half away from zero), in exact integer arithmetic: about 1 pixel in 10^5 lies exactly on
    a .5 tie, which floating point would round either way."""
    weights = np.array([65481, 128553, 24966], dtype=np.int64)  # Y_WEIGHTS * 255000
    scaled = rgb.astype(np.int64) @ weights + int(Y_OFFSET) * 255_000
    return ((scaled + 127_500) // 255_000).astype(np.float64)[..., None]


def round_like_uint8(values: np.ndarray) -> np.ndarray:
    """What MATLAB's uint8() does: saturate to 0-255, round half away from zero."""
    return np.floor(np.clip(values, 0.0, 255.0) + 0.5)


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """Remove `border` pixels from each edge of (..., H, W, C)."""
    if border < 0:
        raise InputError(f"--crop-border must be >= 0, but got {border}")
    if border == 0:
        return image
    height, width = image.shape[-3:-1]
    if 2 * border >= min(height, width):
        raise InputError(f"a border crop of {border} px leaves nothing of a {width}x{height} image")
    return image[..., border:-border, border:-border, :]


def prepare(image: np.ndarray, *, channels: Channels, border: int, what: str) -> np.ndarray:
    """Validated, cropped float64 (..., H, W, 3|1) in the given channels on the 0-255 scale."""
    check_rgb(image, what=what)
    if channels not in CHANNELS:
        raise InputError(f"channels must be one of {', '.join(CHANNELS)}, but got {channels!r}")
    values = crop_border(to_float255(image), border)
    return rgb_to_y(values) if channels == "y" else values
