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
- Integer input (uint8/uint16): like MATLAB, every pass returns the input's type: the float64
  weighted sum of the taps, rounded half away from zero and saturated to the type's range.
  (uint8 passes multiply in float32 and re-sum in float64, tap by tap, the few values whose
  rounding float32 could change; see `_Rounding`.) Float input keeps its
  precision and is not clipped (bicubic over/undershoot is kept).

Numpy arrays are HxW or HxWxC (spatial axes first, as in MATLAB); torch tensors are (..., H, W)
(NCHW, CHW or HW, any device; the batch is resized in one go). Values keep their range.
"""

from __future__ import annotations

import fractions
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


class _Batch(NamedTuple):
    """Output lines start + i*lines + [0, lines) = weights[i] @ input lines first + i*stride +
    [0, width), for i < count: one batched product over a strided view, no copies."""

    start: int
    lines: int
    first: int
    stride: int
    weights: np.ndarray  # (count, lines, width)

    @property
    def count(self) -> int:
        return self.weights.shape[0]

    @property
    def stop(self) -> int:
        return self.start + self.count * self.lines

    @property
    def last(self) -> int:
        """One past the last input line read."""
        return self.first + (self.count - 1) * self.stride + self.weights.shape[2]

    def part(self, begin: int, end: int) -> _Batch:
        """Matrices [begin, end) of this batch."""
        return _Batch(
            self.start + begin * self.lines,
            self.lines,
            self.first + begin * self.stride,
            self.stride,
            self.weights[begin:end],
        )


@functools.lru_cache(maxsize=64)
def _plan(in_length: int, out_length: int, scale: float, antialiasing: bool) -> tuple[_Batch, ...]:
    """The banded resampling matrix of one axis cut into dense tiles, in output order.

    Each tile is a small matrix product, so a pass runs at GEMM speed instead of one vector
    operation per tap; mirrored taps fall inside the tile's input lines and simply add up.
    A tile of n output lines spans about n/scale + taps input lines, so n = taps * scale
    keeps the multiplications by zero to about half of the work. When the scale is a
    fraction p/q with a small p (1/4, 1/3, 0.7, 2, ...), n is made a multiple of p, so that
    consecutive tiles start exactly n*q/p input lines apart: all tiles away from the borders
    then form one strided batch (one call instead of one per tile); the others stay single.
    """
    weights, indices = contributions(in_length, out_length, scale, antialiasing)
    lines = max(4, round(weights.shape[1] * scale))
    period = fractions.Fraction(scale).limit_denominator(1024)
    regular = abs(float(period) - scale) <= 1e-12 * scale and period.numerator <= 4 * lines
    if regular:
        lines = math.ceil(lines / period.numerator) * period.numerator
    singles = []
    for start in range(0, out_length, lines):
        stop = min(out_length, start + lines)
        taps = indices[start:stop]
        first, last = int(taps.min()), int(taps.max()) + 1
        dense = np.zeros((1, stop - start, last - first))
        rows = np.repeat(np.arange(stop - start), taps.shape[1])
        np.add.at(dense[0], (rows, (taps - first).ravel()), weights[start:stop].ravel())
        singles.append(_Batch(start, stop - start, first, 0, dense))
    if not regular or len(singles) < 3:
        return tuple(singles)
    stride = lines * period.denominator // period.numerator
    firsts = np.array([tile.first for tile in singles])
    lasts = np.array([tile.last for tile in singles])
    # Window of tile i: [base + i*stride, + width), wide enough for every inner tile (float64
    # rounding of the tap positions may move a tile's taps by one line).
    inner = (firsts > 0) & (lasts < in_length)  # no mirrored taps
    if not inner.any():
        return tuple(singles)
    base = int((firsts - np.arange(len(singles)) * stride)[inner].min())
    starts = base + np.arange(len(singles)) * stride
    width = int((lasts - starts)[inner].max())
    fits = (
        (firsts >= starts)
        & (lasts <= starts + width)
        & (starts >= 0)
        & (starts + width <= in_length)
        & (np.array([tile.lines for tile in singles]) == lines)
    )
    begin, end = _longest_run(fits)
    if end - begin < 2:
        return tuple(singles)
    stacked = np.zeros((end - begin, lines, width))
    for matrix, tile, window in zip(stacked, singles[begin:end], starts[begin:end], strict=True):
        matrix[:, tile.first - window : tile.last - window] = tile.weights[0]
    batch = _Batch(singles[begin].start, lines, int(starts[begin]), stride, stacked)
    return (*singles[:begin], batch, *singles[end:])


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """[begin, end) of the longest run of True in `flags`."""
    best, begin = (0, 0), None
    for index, flag in enumerate([*flags.tolist(), False]):
        if flag and begin is None:
            begin = index
        elif not flag and begin is not None:
            if index - begin > best[1] - best[0]:
                best = (begin, index)
            begin = None
    return best


@functools.lru_cache(maxsize=64)
def _interleaved_plan(
    in_length: int, out_length: int, scale: float, antialiasing: bool, interleave: int
) -> tuple[np.ndarray, ...]:
    """Per piece of `_plan`, the transposed weights for `interleave` values per line (kron
    with the identity): (count, width * interleave, lines * interleave)."""
    identity = np.eye(interleave)
    return tuple(
        np.stack([np.kron(matrix, identity).T for matrix in piece.weights])
        for piece in _plan(in_length, out_length, scale, antialiasing)
    )


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
    integer = image.dtype if image.dtype in _INTEGER_TORCH else None
    if integer is not None:  # uint8 in float32 where products are IEEE, checked by _Rounding
        fast = integer == torch.uint8 and _ieee_float32_products(image.device)
        work_dtype = torch.float32 if fast else torch.float64
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
        resized = _resize_axis(
            lines, out_hw[which], scales[which], antialiasing, work_dtype, integer
        )
        shape[axis] = out_hw[which]
        out = resized.reshape(shape)
    return out.to(image.dtype).contiguous()


def _ieee_float32_products(device: torch.device) -> bool:
    """Whether float32 matrix products on `device` round like IEEE float32 (not bf16/TF32)."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    if device.type == "cuda":
        backend = torch.backends.cuda.matmul
    elif device.type == "cpu":
        backend = getattr(torch.backends.mkldnn, "matmul", None)  # torch >= 2.9
    else:
        return False
    precision = getattr(backend, "fp32_precision", None)
    if precision is None:  # torch < 2.9: only CUDA has a switch, TF32
        return not (device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32)
    if precision == "none":  # inherits the global setting
        precision = getattr(torch.backends, "fp32_precision", "none")
    return precision in ("none", "ieee")


# A line of at most this many interleaved values (gray, RGB, RGBA) is resized as matrix rows
# with Kronecker-expanded weights: 3-4x more multiplications by zero, but no transposed copy.
_INTERLEAVED_LIMIT = 4
# Up to this many line groups get one product each; more are cheaper as one transposed copy.
_MATRIX_LOOP_LIMIT = 8
# Output values per band: the band, its source lines and its rounding stay in cache.
_BAND_VALUES = 1 << 18


def _resize_axis(
    lines: torch.Tensor,
    out_length: int,
    scale: float,
    antialiasing: bool,
    dtype: torch.dtype,
    integer: torch.dtype | None,
) -> torch.Tensor:
    """Resample axis 1 of `lines` (before x L x after) to out_length, computing in `dtype`.

    The layout picks the product: rows of one matrix when a line holds a few interleaved
    values (HW, or HWC along the width), one matrix per line group for a small batch (in
    bands of output lines, each converted, multiplied and rounded while in cache), or, for
    a large batch, one matrix after a transposed copy. With `integer` (uint8/uint16) every
    value is rounded like MATLAB.
    """
    before, length, after = lines.shape
    if before > _MATRIX_LOOP_LIMIT and after > _INTERLEAVED_LIMIT:
        leading = lines.transpose(0, 1).reshape(1, length, before * after)
        resized = _resize_axis(leading, out_length, scale, antialiasing, dtype, integer)
        return resized.view(out_length, before, after).transpose(0, 1).contiguous()
    lines = lines.contiguous()
    plan = _plan(length, out_length, scale, antialiasing)
    out = torch.empty((before, out_length, after), dtype=dtype, device=lines.device)
    rounding = None if integer is None else _Rounding(lines, out, scale, antialiasing, integer)
    if after <= _INTERLEAVED_LIMIT:
        kron = _plan_tensors(length, out_length, scale, antialiasing, after, lines.device, dtype)
        rows = _converted(lines, dtype).view(before, length * after)
        out_rows = out.view(before, out_length * after)
        for piece, matrices in zip(plan, kron, strict=True):
            source = rows.as_strided(
                (piece.count, before, matrices.shape[1]),
                (piece.stride * after, length * after, 1),
                rows.storage_offset() + piece.first * after,
            )
            target = out_rows[:, piece.start * after : piece.stop * after]
            torch.bmm(source, matrices, out=target.view(before, piece.count, -1).transpose(0, 1))
        if rounding is not None:
            rounding.band(0, out_length)
            rounding.finish()
        return out
    # Bands keep a CPU's caches warm; a GPU wants few, large calls (each band syncs once).
    band_values = _BAND_VALUES if lines.device.type == "cpu" else out.numel()
    per_band = max(1, band_values // (before * after * max(piece.lines for piece in plan)))
    matrices = _plan_tensors(length, out_length, scale, antialiasing, None, lines.device, dtype)
    bands = [
        (piece.part(begin, begin + per_band), weights[begin : begin + per_band])
        for piece, weights in zip(plan, matrices, strict=True)
        for begin in range(0, piece.count, per_band)
    ]
    converted = None
    if lines.dtype != dtype:  # once per band (not per overlapping tile), into one buffer
        rows = max(band.last - band.first for band, _ in bands)
        converted = lines.new_empty((before, rows, after), dtype=dtype)
    for band, weights in bands:
        source = lines[:, band.first : band.last]
        if converted is not None:
            source = converted[:, : band.last - band.first].copy_(source)
        for index in range(before):
            windows = source[index].as_strided(
                (band.count, weights.shape[2], after), (band.stride * after, after, 1)
            )
            target = out[index, band.start : band.stop].view(band.count, band.lines, after)
            torch.bmm(weights, windows, out=target)
        if rounding is not None:
            rounding.band(band.start, band.stop)
    if rounding is not None:
        rounding.finish()
    return out


def _converted(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`tensor` in `dtype`; integers on the CPU through numpy, whose casts are 2x faster."""
    if tensor.dtype == dtype:
        return tensor
    if tensor.device.type == "cpu" and tensor.dtype in _INTEGER_TORCH:
        return torch.from_numpy(tensor.numpy().astype(_NUMPY_FLOAT[dtype]))
    return tensor.to(dtype)


_NUMPY_FLOAT = {torch.float32: np.float32, torch.float64: np.float64}


@functools.lru_cache(maxsize=64)
def _plan_tensors(
    in_length: int,
    out_length: int,
    scale: float,
    antialiasing: bool,
    interleave: int | None,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, ...]:
    """The weights of each piece of `_plan` (kron-expanded for `interleave` values per line
    when given) on `device` in `dtype`, moved in one transfer."""
    if interleave is None:
        matrices = tuple(
            piece.weights for piece in _plan(in_length, out_length, scale, antialiasing)
        )
    else:
        matrices = _interleaved_plan(in_length, out_length, scale, antialiasing, interleave)
    flat = torch.from_numpy(np.concatenate([matrix.ravel() for matrix in matrices]))
    flat = flat.to(device=device, dtype=dtype)
    sizes = [matrix.size for matrix in matrices]
    return tuple(
        part.view(matrix.shape) for part, matrix in zip(flat.split(sizes), matrices, strict=True)
    )


class _Rounding:
    """Rounds a pass half away from zero and saturates, as MATLAB does after every pass.

    The products ran in the output's precision (float32 for uint8, else float64).
    Multiplying or adding zero is exact, so an output's error is at most
    peak * sum|w| * (taps + 2) * unit in any summation order, and the float64 reference sum
    has the same bound in float64 units. `margin` adds both (3e-4 grey levels for uint8
    shrunk by 4 in float32). Only values within `margin` of k + 0.5 can round differently
    from the exact sum: those few (under 0.1%) are summed again in float64, tap by tap in
    MATLAB's order, and rounded from that, so every device gives the same integers. numpy
    does the CPU work: its calls cost a fifth of torch's, which matters for many bands.
    """

    def __init__(
        self,
        lines: torch.Tensor,
        out: torch.Tensor,
        scale: float,
        antialiasing: bool,
        integer: torch.dtype,
    ) -> None:
        self.on_cpu = out.device.type == "cpu"
        weights, indices = contributions(lines.shape[1], out.shape[1], scale, antialiasing)
        self.peak = float(torch.iinfo(integer).max)
        taps = weights.shape[1]
        units = (taps + 2) * (torch.finfo(out.dtype).eps + torch.finfo(torch.float64).eps) / 2
        margin = self.peak * float(np.abs(weights).sum(axis=1).max()) * units
        # 0.5 - margin in the products' precision, rounded towards 0 so that no value is missed.
        precision = _NUMPY_FLOAT[out.dtype]
        self.threshold = np.nextafter(precision(0.5 - margin), precision(0))
        if self.on_cpu:
            self.values, self.sources = out.numpy(), lines.numpy()
            self.weights, self.indices = weights, indices
            self.nearest = np.empty(0, dtype=self.values.dtype)  # one buffer for every band
        else:
            # CUDA cannot index uint16 tensors: read them as int16 and undo the sign in finish.
            self.values = out
            self.sources = lines.view(torch.int16) if lines.dtype == torch.uint16 else lines
            self.weights = torch.tensor(weights, device=out.device)
            self.indices = torch.tensor(indices, device=out.device)
            self.nearest = torch.empty(0, dtype=out.dtype, device=out.device)
        self.near_half: list = []  # flat indices into the output (numpy or torch)

    def band(self, start: int, stop: int) -> None:
        """Round out[:, start:stop] in place and note the values too near k + 0.5."""
        values = self.values[:, start:stop]
        count = math.prod(values.shape)
        if len(self.nearest) < count:
            self.nearest = (
                np.empty(count, dtype=self.values.dtype)
                if self.on_cpu
                else torch.empty(count, dtype=values.dtype, device=values.device)
            )
        nearest = self.nearest[:count].reshape(values.shape)
        if self.on_cpu:
            np.rint(values, out=nearest)  # half to even; ties are within the margin, redone
            distance = np.abs(np.subtract(values, nearest, out=values), out=values)
            near = np.flatnonzero(distance > self.threshold)
            np.clip(nearest, 0.0, self.peak, out=values)
        else:
            torch.round(values, out=nearest)
            distance = values.sub_(nearest).abs_()
            near = torch.nonzero((distance > float(self.threshold)).reshape(-1)).squeeze(1)
            torch.clamp(nearest, 0.0, self.peak, out=values)
        if len(near):  # flat indices into the band -> flat indices into the whole output
            per_line = math.prod(values.shape[1:])
            line, rest = near // per_line, near % per_line
            total = math.prod(self.values.shape[1:])
            self.near_half.append(line * total + start * values.shape[2] + rest)

    def finish(self) -> None:
        """Replace the noted values by the rounded float64 sums of their taps."""
        if not self.near_half:
            return
        if self.on_cpu:
            near = np.concatenate(self.near_half)
            line, position, channel = np.unravel_index(near, self.values.shape)
        else:
            near = torch.cat(self.near_half)
            line, position, channel = torch.unravel_index(near, self.values.shape)
        sources = self.sources[line[:, None], self.indices[position], channel[:, None]]
        if sources.dtype == torch.int16:  # uint16 read as int16 (see __init__)
            sources = sources.to(torch.int32) & 0xFFFF
        weights = self.weights[position]
        exact = weights[:, 0] * sources[:, 0]  # float64
        for tap in range(1, weights.shape[1]):
            exact = exact + weights[:, tap] * sources[:, tap]
        if self.on_cpu:
            np.put(self.values, near, np.clip(np.floor(exact + 0.5), 0.0, self.peak))
        else:
            rounded = torch.floor(exact + 0.5).clamp_(0.0, self.peak)
            self.values.view(-1)[near] = rounded.to(self.values.dtype)
