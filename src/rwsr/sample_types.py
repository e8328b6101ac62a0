"""Sample types and the one way rwsr converts between them (numpy only, no other rwsr import).

rwsr holds images as uint8, uint16 or float with 1.0 for white; the model contract is float32
in [0, 1]. The conventions, pinned by tests/test_sample_types.py:
- integer -> float: divided by the type's peak, 255 or 65535 (uint16 257 is 1/255), in the
  float type asked for. Float in: clipped to [0, 1].
- float -> integer: times the peak, rounded to nearest with ties to even (np.rint), then
  clipped to [0, peak]; in the input's own float precision. A float32 product is rounded
  before np.rint sees it and can land on a .5 the exact value was not on (float32(2.5 / 255)
  * 255 is 2.5 in float32, rounded to 2, and 2.50000009 in float64, rounded to 3). The
  engine, whose device path computes in float32, rounds in float32; imageio.from_float, in
  float64.
- `convert`: between any two of them through float32 in [0, 1] (the engine's precision).
- `to_float255`, the metrics' scale: float64 on 0-255, uint8 as is, uint16 / 257 (65535 ->
  255 exactly), float * 255; unrounded.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from rwsr.errors import InputError


def peak(dtype: DTypeLike) -> int:
    """The largest value of an integer sample type (255, 65535): the sample for 1.0."""
    return int(np.iinfo(dtype).max)


def to_unit(image: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """uint8/uint16 (divided by the peak) or float (clipped) -> float `dtype` in [0, 1],
    computed in `dtype`."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(dtype) / peak(image.dtype)
    if image.dtype.kind == "f":
        return np.clip(image.astype(dtype), 0.0, 1.0)
    raise InputError(f"unsupported sample type {image.dtype}; expected uint8, uint16 or float")


def from_unit(values: np.ndarray, dtype: DTypeLike = np.uint8) -> np.ndarray:
    """Float in [0, 1] -> uint8/uint16: times the peak, rounded to nearest (ties to even),
    clipped to [0, peak]; computed in the precision of `values` (see the module docstring)."""
    top = peak(dtype)
    return np.clip(np.rint(values * top), 0, top).astype(dtype)


def convert(image: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Between uint8/uint16/float [0, 1] through float32: to_unit, then from_unit for an
    integer `dtype`. An image that has `dtype` already is returned as it is (not clipped)."""
    dtype = np.dtype(dtype)
    if image.dtype == dtype:
        return image
    unit = to_unit(image, np.float32)
    return unit.astype(dtype) if dtype.kind == "f" else from_unit(unit, dtype)


def to_float255(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float [0, 1] -> float64 on the 0-255 scale (same shape), unrounded:
    images read from files are integers already (uint8-rounded, as MATLAB sees them)."""
    if image.dtype == np.uint8:
        return image.astype(np.float64)
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 257.0  # 65535 -> 255 exactly
    if image.dtype.kind == "f":
        return image.astype(np.float64) * 255.0
    raise InputError(f"unsupported sample type {image.dtype}; expected uint8, uint16 or float")
