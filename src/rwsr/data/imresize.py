"""MATLAB-exact bicubic resizing (`imresize(A, scale)` / `imresize(A, [h w])`, method 'bicubic').

Super-resolution data sets and metrics (LR generation, NIQE) are defined with MATLAB's
imresize, and OpenCV/PIL differ from it by up to several grey levels, so we reproduce it:

- Keys cubic kernel with a = -0.5, support 4 input pixels.
- Antialiasing when shrinking: the kernel is stretched by 1/scale (and scaled by `scale`).
- Coordinate mapping u = x/scale + 0.5*(1 - 1/scale) (pixel centres, 1-based as in MATLAB).
- Weights normalised to sum to 1 per output pixel; out-of-range taps read the image mirrored
  at its border (symmetric padding, edge pixel repeated: ... 2 1 | 1 2 3 ... n | n n-1 ...).
- Output size ceil(scale * input size); with only `size` given, scale = size / input size.
- Separable: one pass per axis, the axis with the smaller scale factor first (rows on a tie).
- Integer input (uint8/uint16) is computed in float64 and, like MATLAB, every pass returns
  the input's type: rounded half away from zero and saturated to the type's range. Float
  input keeps its precision and is not clipped (bicubic over/undershoot is kept).

Numpy arrays are HxW or HxWxC (spatial axes first, as in MATLAB); torch tensors are (..., H, W)
(NCHW, CHW or HW, any device; the batch is resized in one go). Values keep their range.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from rwsr.errors import ConfigError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

_INTEGER_NUMPY = (np.uint8, np.uint16)
_INTEGER_TORCH = (torch.uint8, torch.uint16)
_FLOAT_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys (1981) cubic convolution kernel with a = -0.5, as in MATLAB's imresize."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


@functools.lru_cache(maxsize=64)
def contributions(
    in_length: int, out_length: int, scale: float, antialiasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_length x taps, float64) and 0-based input indices for one axis.

    Row k holds the taps of output pixel k; all-zero tap columns are removed, as in MATLAB.
    """
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        kernel_width = kernel_width / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)

    else:
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    weights, indices = weights[:, keep], indices[:, keep]
    weights.flags.writeable = False
    indices.flags.writeable = False
    return weights, indices


def output_shape(
    in_hw: tuple[int, int],
    scale: float | Sequence[float] | None = None,
    size: Sequence[int] | None = None,
) -> tuple[tuple[int, int], tuple[float, float]]:
    """MATLAB's rule for (output height, width) and per-axis scale from `scale` and/or `size`."""
    if scale is None and size is None:
        raise ConfigError("imresize: give a scale factor or an output size")
    scales: tuple[float, float] | None = None
    if scale is not None:
        pair = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
        if len(pair) != 2 or not all(math.isfinite(s) and s > 0 for s in pair):
            raise ConfigError(f"imresize: scale must be one or two positive numbers, got {scale!r}")
        scales = (float(pair[0]), float(pair[1]))
    if size is not None:
        if len(size) != 2 or not all(int(n) == n and n > 0 for n in size):
            raise ConfigError(f"imresize: size must be two positive integers, got {size!r}")
        out_hw = (int(size[0]), int(size[1]))
        if scales is None:
            scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    else:
        assert scales is not None
        out_hw = (math.ceil(scales[0] * in_hw[0]), math.ceil(scales[1] * in_hw[1]))
    if min(in_hw) < 1:
        raise ConfigError(f"imresize: input has an empty spatial axis (shape {in_hw})")
    return out_hw, scales


def imresize(
    image: ArrayOrTensor,
    scale: float | Sequence[float] | None = None,
    *,
    size: Sequence[int] | None = None,
    antialiasing: bool = True,
) -> ArrayOrTensor:
    """Resize like MATLAB's `imresize(image, scale, 'bicubic')` (see the module docstring).

    `scale` < 1 shrinks (0.25 = a quarter of the size); `size` = (height, width) instead fixes
    the output size. Returns the same kind (numpy/torch), dtype and device as `image`.
    """
    if isinstance(image, torch.Tensor):
        return _imresize_torch(image, scale, size, antialiasing)
    if isinstance(image, np.ndarray):
        return _imresize_numpy(image, scale, size, antialiasing)
    raise TypeError(f"imresize: expected a numpy array or torch tensor, got {type(image).__name__}")


def _pass_order(scales: tuple[float, float]) -> list[int]:
    return [0, 1] if scales[0] <= scales[1] else [1, 0]


def _round_like_matlab_np(values: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    peak = float(np.iinfo(dtype).max)
    return np.floor(np.clip(values, 0.0, peak) + 0.5).astype(dtype)


def _imresize_numpy(
    image: np.ndarray,
    scale: float | Sequence[float] | None,
    size: Sequence[int] | None,
    antialiasing: bool,
) -> np.ndarray:
    if image.ndim not in (2, 3):
        raise ConfigError(f"imresize: expected an HxW or HxWxC array, got shape {image.shape}")
    integer = image.dtype.type in _INTEGER_NUMPY
    if not integer and image.dtype.kind != "f":
        raise TypeError(f"imresize: unsupported dtype {image.dtype}; use uint8, uint16 or float")
    in_hw = (image.shape[0], image.shape[1])
    out_hw, scales = output_shape(in_hw, scale, size)
    work_dtype = np.float64 if integer else np.result_type(image.dtype, np.float32)
    out = image
    for axis in _pass_order(scales):
        if out_hw[axis] == out.shape[axis] and scales[axis] == 1:
            continue
        weights, indices = contributions(out.shape[axis], out_hw[axis], scales[axis], antialiasing)
        source = np.moveaxis(out, axis, 0)
        acc = np.zeros((out_hw[axis],) + source.shape[1:], dtype=work_dtype)
        shape = (-1,) + (1,) * (source.ndim - 1)
        for tap in range(weights.shape[1]):
            acc += weights[:, tap].astype(work_dtype).reshape(shape) * source[indices[:, tap]]
        if integer:
            acc = _round_like_matlab_np(acc, image.dtype.type)
        out = np.moveaxis(acc, 0, axis)
    return np.ascontiguousarray(out.astype(image.dtype, copy=False))


def _imresize_torch(
    image: torch.Tensor,
    scale: float | Sequence[float] | None,
    size: Sequence[int] | None,
    antialiasing: bool,
) -> torch.Tensor:
    if image.ndim < 2:
        raise ConfigError(f"imresize: expected a (..., H, W) tensor, got shape {tuple(image.shape)}")
    integer = image.dtype in _INTEGER_TORCH
    if not integer and image.dtype not in _FLOAT_TORCH:
        raise TypeError(f"imresize: unsupported dtype {image.dtype}; use uint8, uint16 or float")
    in_hw = (image.shape[-2], image.shape[-1])
    out_hw, scales = output_shape(in_hw, scale, size)
    if integer:
        work_dtype = torch.float64
    elif image.dtype in (torch.float16, torch.bfloat16):
        work_dtype = torch.float32
    else:
        work_dtype = image.dtype
    out = image.to(work_dtype)
    for axis in _pass_order(scales):
        dim = image.ndim - 2 + axis
        if out_hw[axis] == out.shape[dim] and scales[axis] == 1:
            continue
        weights, indices = contributions(out.shape[dim], out_hw[axis], scales[axis], antialiasing)
        weights_t = torch.tensor(weights, dtype=work_dtype, device=image.device)
        indices_t = torch.tensor(indices, device=image.device)
        shape = [-1] + [1] * (image.ndim - 1 - dim)
        acc = None
        for tap in range(weights.shape[1]):
            term = out.index_select(dim, indices_t[:, tap]) * weights_t[:, tap].reshape(shape)
            acc = term if acc is None else acc.add_(term)
        assert acc is not None
        if integer:
            peak = float(torch.iinfo(image.dtype).max)
            acc = acc.clamp_(0.0, peak).add_(0.5).floor_()
        out = acc
    return out.to(image.dtype)
