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
from typing import NamedTuple, TypeVar

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
    taps = math.ceil(kernel_width) + 2
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


class _Tile(NamedTuple):
    """Output lines [start, stop) of one axis = weights @ input lines [first, last)."""

    start: int
    stop: int
    first: int
    last: int
    weights: np.ndarray


@functools.lru_cache(maxsize=64)
def _tiles(in_length: int, out_length: int, scale: float, antialiasing: bool) -> tuple[_Tile, ...]:
    """The banded resampling matrix of one axis cut into dense tiles.

    Each tile is a small matrix product, so one pass runs at GEMM speed instead of one
    vector operation per tap; mirrored taps fall inside [first, last) and simply add up.
    A tile of n output lines spans about n/scale + taps input lines, so n = taps * scale
    keeps the multiplications by zero to about half of the work.
    """
    weights, indices = contributions(in_length, out_length, scale, antialiasing)
    lines = max(4, round(weights.shape[1] * scale))
    tiles = []
    for start in range(0, out_length, lines):
        stop = min(out_length, start + lines)
        taps = indices[start:stop]
        first, last = int(taps.min()), int(taps.max()) + 1
        dense = np.zeros((stop - start, last - first))
        rows = np.repeat(np.arange(stop - start), taps.shape[1])
        np.add.at(dense, (rows, (taps - first).ravel()), weights[start:stop].ravel())
        tiles.append(_Tile(start, stop, first, last, dense))
    return tuple(tiles)


def _imresize_numpy(
    image: np.ndarray,
    scale: float | Sequence[float] | None,
    size: Sequence[int] | None,
    antialiasing: bool,
) -> np.ndarray:
    if image.ndim not in (2, 3):
        raise ConfigError(f"imresize: expected an HxW or HxWxC array, got shape {image.shape}")
    if image.dtype.type not in _INTEGER_NUMPY and image.dtype.kind != "f":
        raise TypeError(f"imresize: unsupported dtype {image.dtype}; use uint8, uint16 or float")
    tensor = torch.from_numpy(np.ascontiguousarray(image))
    out = _resize(tensor, (0, 1), scale, size, antialiasing)
    return out.numpy()


def _imresize_torch(
    image: torch.Tensor,
    scale: float | Sequence[float] | None,
    size: Sequence[int] | None,
    antialiasing: bool,
) -> torch.Tensor:
    if image.ndim < 2:
        raise ConfigError(
            f"imresize: expected a (..., H, W) tensor, got shape {tuple(image.shape)}"
        )
    if image.dtype not in _INTEGER_TORCH + _FLOAT_TORCH:
        raise TypeError(f"imresize: unsupported dtype {image.dtype}; use uint8, uint16 or float")
    return _resize(image, (image.ndim - 2, image.ndim - 1), scale, size, antialiasing)


def _resize(
    image: torch.Tensor,
    axes: tuple[int, int],
    scale: float | Sequence[float] | None,
    size: Sequence[int] | None,
    antialiasing: bool,
) -> torch.Tensor:
    in_hw = (image.shape[axes[0]], image.shape[axes[1]])
    out_hw, scales = output_shape(in_hw, scale, size)
    if image.dtype in _INTEGER_TORCH:
        work_dtype = torch.float64
    elif image.dtype in (torch.float16, torch.bfloat16):
        work_dtype = torch.float32
    else:
        work_dtype = image.dtype
    out = image
    order = [0, 1] if scales[0] <= scales[1] else [1, 0]
    for which in order:
        axis = axes[which]
        if out_hw[which] == out.shape[axis] and scales[which] == 1:
            continue
        shape = list(out.shape)
        before, after = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
        lines = out.reshape(before, shape[axis], after)
        resized = _resize_axis(lines, out_hw[which], scales[which], antialiasing, work_dtype)
        if image.dtype in _INTEGER_TORCH:
            resized = _round_like_matlab(resized, image.dtype)
        shape[axis] = out_hw[which]
        out = resized.reshape(shape)
    return out.to(image.dtype).contiguous()


def _resize_axis(
    lines: torch.Tensor, out_length: int, scale: float, antialiasing: bool, dtype: torch.dtype
) -> torch.Tensor:
    """Resample axis 1 of `lines` (before x L x after) to out_length, computing in `dtype`.

    The layout picks the product: rows of a matrix (nothing before), columns (nothing after),
    the matrices of a small batch one by one, or, for a few interleaved values (HWC width) or
    a large batch, one matrix after a transposed copy.
    """
    before, length, after = lines.shape
    if before > 1 and after > 1 and (after < 32 or before > 8):
        leading = lines.transpose(0, 1).reshape(1, length, before * after)
        resized = _resize_axis(leading, out_length, scale, antialiasing, dtype)
        return resized.reshape(out_length, before, after).transpose(0, 1)
    tiles = _tiles(length, out_length, scale, antialiasing)
    dense = torch.from_numpy(np.concatenate([tile.weights.ravel() for tile in tiles]))
    dense = dense.to(device=lines.device, dtype=dtype)
    out = torch.empty((before, out_length, after), dtype=dtype, device=lines.device)
    offset = 0
    for tile in tiles:
        height, width = tile.weights.shape
        matrix = dense[offset : offset + height * width].view(height, width)
        offset += height * width
        source = lines[:, tile.first : tile.last].to(dtype)  # converts one tile at a time
        if after == 1:
            torch.mm(source[:, :, 0], matrix.T, out=out[:, tile.start : tile.stop, 0])
        else:
            for index in range(before):
                torch.mm(matrix, source[index], out=out[index, tile.start : tile.stop])
    return out


def _round_like_matlab(resized: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Saturate and round half away from zero in place, as MATLAB does after every pass."""
    peak = float(torch.iinfo(dtype).max)
    return resized.clamp_(0.0, peak).add_(0.5).floor_()
