"""The tiling upscaler: any image size on any device, seamless, memory-bounded.

The whole image never goes to the device: tiles are cut on the host, each in a window with
the model's context around it (model_context; whatever the tile size, so small tiles are as
seamless as large ones), and travel in their own sample type (one byte a sample for 8-bit
images), in batches of same-size windows. Everything after the network happens where it
ran: a tile's output is cut from its window's and clamped there, blended into the float
accumulators of the current band of tile rows (only that band exists), and each finished
band is rounded to the output's sample type before it is copied to the host. A single-tile
image skips the blending (its weights are all 1). On a GPU the host waits for
the device twice a band (the band's non-finite check, the copy back), never per tile.
Out-of-memory on the device halves the tiles per forward, then the tile size, and starts
again; a tile that comes out NaN/Inf in bf16/fp16 is recomputed in fp32, and NaN/Inf in fp32
is an error (the weights are broken).

On the CPU the results are bit-identical to blending on the host in numpy as before: the
same float32 operations in the same order (tests/upscale/test_engine.py keeps a copy of that
path). An Upscaler holds no per-call state: one instance may serve several threads at once.
Conventions: arrays are HxWxC RGB(A) or HxW gray, uint8/uint16 or float in [0, 1]; the output
has the input's channels and dtype.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import psutil
import torch
from torch import nn

from rwsr.device import resolve_device, resolve_precision
from rwsr.errors import CheckpointError, ConfigError, InputError
from rwsr.models.catalog import generator_scale
from rwsr.models.foreign import SpandrelConfig, supported_precision
from rwsr.sample_types import convert
from rwsr.upscale.fusion import fuse_activations
from rwsr.upscale.tiling import axis_spans, context_window, padded_extent, ramp_weights

DEFAULT_OVERLAP = 32
# With the model's context around every tile, neighbours agree to a grey level or so where they
# meet (59.4-60.1 dB for overlaps of 0-16 px, tile 64, City100 021L), and the blend only hides
# that: a small overlap keeps the CPU's 320 px windows from recomputing more per seam (2000x1500
# in them: 2.7x the pixels of the photo through the model with 32 px, 2.2x with 8; 1.4x before
# tiles had a context, at 34.9-40.1 dB against one tile at --tile 64).
CONTEXT_OVERLAP = 8
DEFAULT_MAX_PIXELS = 100_000_000
MIN_TILE = 32
# A side shorter than this is mirrored out to it before the model sees it: the network's zero
# padding would otherwise stand in for most of the picture and darken it (the default model
# turned a flat 1x1 input 16% darker and a 1x64 strip 7%). Against the same pixels upscaled
# inside their photo, 16 px of mirrored context gives 45-47 dB on 1x1 to 8x8 crops and a
# 1x64 strip (21-44 dB without); 32 or 64 px give 1-4 dB less, as more of it is invented.
MIN_CONTEXT = 16
# Input pixels of the picture around every tile, whatever its size (model_context): a tile's
# output is computed from its window and only the tile's part kept. x4plus's receptive field
# spans hundreds of pixels, but its output depends mostly on the nearest few dozen. Measured
# with experiments/tile_context.py (x4plus, --tile 64, fp32, 8-bit RGB against one tile):
#   context                       0 (overlap alone)  16      24      32      40
#   sample.png (045L) 240x160     34.9               41.8    46.3    51.0    53.3 dB
#   City100 021H 160x160          40.1               54.3    58.6    63.3    66.3 dB
# 32 px only just clears 50 dB on the blurry sample photo (and 32 px tiles of a 160x16 strip
# of it: 51.0 dB); 40 px keeps 3-7 dB above it (53.3 dB; the strip 57.4 dB with 32 px and
# 60.1 dB with 64 px tiles). The small rrdb-l1-camerasr-x1 and rwsr-edl-camerasr-x1 (retired
# from the zoo; tests/fixtures/models) give identical 8-bit output from 16 px on (59-60 dB
# with the overlap alone, City100 021L).
TILE_CONTEXT = 40
# A pixel-unshuffle model runs its trunk on u x u blocks, so it sees u times as far in input
# pixels: rwsr-edl-camerasr-unshuffle4-x1 gave 38.3 / 46.6 / 55.2 dB with 0 / 32 / 64 px (its
# windows on the untiled block grid; City100 021L 300x256, --tile 64). 16 trunk pixels.
UNSHUFFLED_CONTEXT = 16
# Peak activation memory per input pixel of the x4 RRDB/EDL generator, measured on the CPU
# (benchmarks/bench_upscale.py prints it): ~14 KB in fp32, ~7 KB in bf16; rounded up.
BYTES_PER_PIXEL = {torch.float32: 16_384, torch.bfloat16: 8_192, torch.float16: 8_192}
# Device memory of the band per output pixel: float32 accumulators (12 B colour, 4 B weight),
# the quotient of the finished rows (12 B), their rounding (12 B) and samples (up to 4 B).
BAND_BYTES_PER_PIXEL = 44
# On the CPU larger tiles are not faster, so cap them to keep memory modest (2000x1500 at
# x4 in bf16: 154 s and 2.4 GB peak with 320, 164 s and 3.0 GB with 384).
MAX_AUTO_TILE = {"cpu": 320, "cuda": 1536, "mps": 768}
# Many CUDA kernels index a tensor with 32-bit integers and refuse one of 2^31 elements or more
# with an error that is no out-of-memory error (x4plus's 64-channel layers at 4x make one from
# a 1448 px tile). torch 2.11 with cuDNN on an H200 ran a 1536 px tile of x4plus in bf16
# (experiments/device_check.py, 2026-12-04); other versions and kernels may not, so auto tiles
# and batches keep the widest activation under this bound, and such an error retries smaller.
MAX_TENSOR_ELEMENTS = 2**31 - 1
# The output's sample types as torch dtypes (uint16 conversions and copies exist since 2.3).
SAMPLE_TYPES = {
    np.dtype(np.uint8): torch.uint8,
    np.dtype(np.uint16): torch.uint16,
    np.dtype(np.float32): torch.float32,
}

TileCallback = Callable[[int, int], None]  # (tiles done, tiles total)
Span = tuple[int, int]  # [start, stop) of a tile along one axis, in input pixels


# What device errors say when a tile was too large for memory or for 32-bit indexing: both are
# cured by a smaller tile, and only those are retried (a wrong model fails at any size).
_TILE_TOO_LARGE = (
    "out of memory",
    "can't allocate memory",
    "cudnn_status",
    "32-bit index",
    "canuse32bitindexmath",
    "cublas_status",
    "invalid configuration argument",
)


def tile_too_large(error: BaseException) -> bool:
    """True for out-of-memory and for the CUDA/cuDNN errors of oversized tensors."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(sign in text for sign in _TILE_TOO_LARGE)


def widest_activation(model: nn.Module) -> int:
    """Channels of the widest convolution output: with the output size, a bound on the
    largest activation tensor of one tile."""
    return max((m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)), default=64)


class Upscaler:
    """Upscales arrays with a generator (an rwsr model with `.config`), which the upscaler takes
    over (moved to the device, frozen, eval mode): pass a copy of a model you still train.

    tile: input tile size in pixels, None = chosen from free memory; each tile is computed
    with tile_context pixels of the picture around it (None = the model's, model_context),
    whatever its size, and only its own output kept; tile_overlap: input pixels shared by
    neighbouring tiles, over which their outputs are blended, None = 8 with a tile context
    (32 without) but at most a quarter of the tile;
    tile_batch: tiles per forward, None = on CUDA as many as fit in free memory beside the
    band and under the element bound, elsewhere 1 (on the CPU a batch is not faster);
    precision: auto/fp32/bf16/fp16; device: auto/cpu/cuda[:N]/mps; max_pixels: larger inputs
    are refused before any work; compile_model: use torch.compile (slow first call, faster
    afterwards: for batches); model_name: how errors name the model (its file or zoo name).
    Outputs are limited to max_pixels times the squared model scale, the size of the model's
    output for the largest input. On CUDA it turns on cuDNN's autotuner for the process
    (`torch.backends.cudnn.benchmark`, see __init__).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str = "auto",
        precision: str = "auto",
        tile: int | None = None,
        tile_overlap: int | None = None,
        tile_context: int | None = None,
        tile_batch: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        compile_model: bool = False,
        model_name: str = "model",
    ) -> None:
        self.scale = generator_scale(model.config)
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        if isinstance(model.config, SpandrelConfig) and not supported_precision(
            model.config, self.dtype
        ):
            if precision != "auto":
                raise ConfigError(
                    f"--precision {precision}: spandrel marks {model.config.architecture} as"
                    " unsafe in that precision; use fp32 or auto"
                )
            self.dtype = torch.float32
        if tile is not None and tile < MIN_TILE:
            raise InputError(f"--tile must be at least {MIN_TILE} pixels, but got {tile}")
        if tile_overlap is not None and (
            tile_overlap < 0 or (tile is not None and 2 * tile_overlap >= tile)
        ):
            raise InputError(
                f"--tile-overlap must be >= 0 and less than half the tile size, got {tile_overlap}"
                + (f" for --tile {tile}" if tile is not None else "")
            )
        if tile_context is not None and tile_context < 0:
            raise InputError(f"tile_context must be >= 0, but got {tile_context}")
        if tile_batch is not None and tile_batch < 1:
            raise InputError(f"tile_batch must be at least 1, but got {tile_batch}")
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.tile_context = model_context(model) if tile_context is None else tile_context
        self.tile_batch = tile_batch
        self.max_pixels = max_pixels
        self.model_name = model_name
        rrdb = getattr(model.config, "rrdb", model.config)
        self._multiple = getattr(rrdb, "input_unshuffle", 1)  # pixel-unshuffle models need it
        memory_format = (
            torch.channels_last if self.device.type in ("cpu", "cuda") else torch.contiguous_format
        )
        self._memory_format = memory_format
        # A copy: the caller's model keeps its mode, gradients, device and layout.
        self._exact = copy.deepcopy(model).eval().requires_grad_(False)
        self._exact.to(self.device, memory_format=memory_format)
        self._widest = widest_activation(self._exact)
        self._fast = self._exact
        if self.dtype != torch.float32:
            # A low-precision copy saves the per-call weight casts of autocast, and feeding it
            # low-precision tiles keeps the whole network (residual stream included) in bf16/
            # fp16: 11% faster than an fp32 residual stream for 0.4 dB less agreement with fp32
            # (56.8 vs 57.2 dB on a real photo). The fp32 model stays for tiles that overflow.
            self._fast = copy.deepcopy(self._exact).to(self.dtype)
        if not compile_model:
            # Activations fused into the convolutions, in place (the model is our own copy; in
            # low precision the fp32 fallback is a separate, plain copy): 16% faster in bf16.
            # torch.compile fuses them itself; off the CPU nothing is fused.
            fuse_activations(self._fast, self.device, self.dtype)
        # torch.compile fuses the memory-bound pointwise work (the head's ReLUs at 4x
        # resolution, residual adds): about 1.3x faster on the CPU in bf16, after a compile
        # of about 50 s on 2 cores. Tiles of one image share one shape, so a batch of
        # same-size photos compiles once. The fp32 fallback for overflowing tiles stays eager.
        self._run = torch.compile(self._fast, dynamic=False) if compile_model else self._fast
        if self.device.type == "cuda":
            # cuDNN's autotuner times its convolution algorithms on the first forward of each
            # new input shape and keeps the fastest for that shape. Shapes repeat here: every
            # tile of a tiled image has one shape (edge tiles are shifted, not cut), and so do
            # photos of one camera and the frames of a benchmark. An image of a size never seen
            # before pays one tuning. Process-wide, as the trainer's speed.cudnn_benchmark.
            torch.backends.cudnn.benchmark = True

    # ------------------------------------------------------------------ public API

    def upscale(
        self,
        image: np.ndarray,
        *,
        outscale: float | None = None,
        on_tile: TileCallback | None = None,
    ) -> np.ndarray:
        """Upscale an HxW, HxWx1, HxWx3 or HxWx4 array by the model's scale (or `outscale`)."""
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise InputError(f"expected an HxW or HxWx{{1,3,4}} image, but got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise InputError(
                f"unsupported sample type {image.dtype}; expected uint8, uint16 or float"
            )
        if image.dtype == np.float64:  # OpenCV's colour and resize code wants float32
            return self.upscale(
                image.astype(np.float32), outscale=outscale, on_tile=on_tile
            ).astype(np.float64)
        height, width = image.shape[:2]
        if height * width == 0:
            raise InputError("image has no pixels")
        if height * width > self.max_pixels:
            raise InputError(
                f"image is {width}x{height} = {height * width / 1e6:.1f} MPix, above the limit of"
                f" {self.max_pixels / 1e6:.1f} MPix (raise it with --max-pixels)"
            )
        out_size = self._output_size(height, width, outscale)
        channels = 1 if image.ndim == 2 else image.shape[2]
        rgb = image.reshape(height, width, -1)[:, :, :3]
        if channels == 1:
            rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
        alpha = image[:, :, 3] if channels == 4 else None
        if alpha is not None:
            rgb = _bleed_colour(rgb, alpha)
        # Keep 16-bit precision until the final resize; float stays float.
        work_dtype = (
            image.dtype if outscale is None or image.dtype != np.uint8 else np.dtype(np.uint16)
        )
        result = self._upscale_rgb(rgb, work_dtype, on_tile)
        if out_size != result.shape[:2]:
            result = _resize(result, out_size)
        result = convert(result, image.dtype)
        if channels == 1:
            gray = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)
            return gray if image.ndim == 2 else gray[:, :, None]
        if alpha is not None:
            alpha_out = _resize(alpha, out_size, interpolation=cv2.INTER_CUBIC)
            result = np.concatenate([result, alpha_out[:, :, None]], axis=2)
        if result.dtype.kind == "f":  # resampling overshoot; integer types saturate by themselves
            np.clip(result, 0.0, 1.0, out=result)
        return result

    def _output_size(self, height: int, width: int, outscale: float | None) -> tuple[int, int]:
        check_outscale(outscale)
        factor = self.scale if outscale is None else outscale
        # Floats until the limit is checked: round() of a huge size would overflow.
        out_height, out_width = height * factor, width * factor
        limit = self.max_pixels * self.scale**2
        if out_height * out_width > limit:
            raise InputError(
                f"the output would be {out_width:.0f}x{out_height:.0f} ="
                f" {out_height * out_width / 1e6:.1f} MPix, above the limit of"
                f" {limit / 1e6:.1f} MPix (--max-pixels at x{self.scale}); lower --outscale or"
                " raise --max-pixels"
            )
        return max(1, round(out_height)), max(1, round(out_width))

    # ------------------------------------------------------------------ tiles

    def auto_tile(self) -> int:
        """Largest tile whose window (the tile and its context) has activations that fit in
        the free memory (half on the host, 70% on a GPU) and a widest activation under
        MAX_TENSOR_ELEMENTS, the window capped where larger ones stop being faster."""
        side = int(
            math.sqrt(self._free_memory() / (BYTES_PER_PIXEL[self.dtype] * self.scale**2 / 16))
        )
        indexable = int(math.sqrt(MAX_TENSOR_ELEMENTS / self._widest)) // self.scale
        window = min(MAX_AUTO_TILE[self.device.type], min(side, indexable) // 8 * 8)
        # context_window makes this tile's window exactly `window` (a multiple of 8, so of the
        # pixel-unshuffle factor too): the tile, its context and up to a block less one.
        return max(MIN_TILE * 2, window - 2 * self.tile_context - (self._multiple - 1))

    def network_pixels(self, height: int, width: int) -> int:
        """Input pixels the network runs on for a `height` x `width` image at the tile size a
        call would start with (`tile`, else auto_tile): the summed areas of its tiles' context
        windows, as _tiled cuts them; an image of one tile counts its own pixels."""
        _, rows, cols = self._spans(height, width, self.tile or self.auto_tile())
        if len(rows) * len(cols) == 1:
            return height * width
        # Every window is a tile row's window by a tile column's: the sum factors.
        window_rows = sum(y1 - y0 for y0, y1 in (self._window(span, height) for span in rows))
        window_cols = sum(x1 - x0 for x0, x1 in (self._window(span, width) for span in cols))
        return window_rows * window_cols

    def _free_memory(self) -> float:
        """Bytes the activations may use: 70% of a GPU's free memory (the blocks PyTorch keeps
        cached for reuse count as free), else half of the host's available memory."""
        if self.device.type == "cuda":
            cached = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(
                self.device
            )
            return (torch.cuda.mem_get_info(self.device)[0] + cached) * 0.7
        return psutil.virtual_memory().available * 0.5

    def _tiles_per_forward(self, window_height: int, window_width: int, output_width: int) -> int:
        """`tile_batch`, or on CUDA as many tile windows of this size as fit in free memory
        beside the band's accumulators (counted two windows high, more than the two tile rows
        they hold at most) with the widest activation of the batch under MAX_TENSOR_ELEMENTS;
        1 elsewhere."""
        if self.tile_batch is not None:
            return self.tile_batch
        if self.device.type != "cuda":
            return 1
        pixels = window_height * window_width
        per_tile = BYTES_PER_PIXEL[self.dtype] * pixels * self.scale**2 / 16
        band = BAND_BYTES_PER_PIXEL * 2 * window_height * self.scale * output_width
        by_memory = int((self._free_memory() - band) // per_tile)
        by_index = MAX_TENSOR_ELEMENTS // (self._widest * pixels * self.scale**2)
        return max(1, min(by_memory, by_index))

    def _upscale_rgb(
        self, rgb: np.ndarray, out_dtype: np.dtype, on_tile: TileCallback | None
    ) -> np.ndarray:
        tile = self.tile or self.auto_tile()
        most_tiles: int | None = None  # a cap on tiles per forward once a batch was too large
        height, width = rgb.shape[:2]
        while True:
            # Batches stay within a tile row, whose tiles share one band of accumulators.
            _, rows, cols = self._spans(height, width, tile)
            row_tiles = len(cols)
            (y0, y1), (x0, x1) = self._window(rows[0], height), self._window(cols[0], width)
            fitting = self._tiles_per_forward(y1 - y0, x1 - x0, width * self.scale)
            batch = min(fitting, row_tiles, most_tiles or row_tiles)
            try:
                return self._tiled(rgb, tile, batch, out_dtype, on_tile)
            except RuntimeError as error:  # torch.OutOfMemoryError is one
                if not tile_too_large(error) or (batch == 1 and tile // 2 < MIN_TILE):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if batch > 1:
                    most_tiles = batch // 2
                    retry = f"{most_tiles} tile(s) per forward"
                else:
                    tile //= 2
                    retry = f"{tile}x{tile} tiles"
                reason = str(error).strip().splitlines()[0][:120] if str(error) else "error"
                warnings.warn(f"{reason}; retrying with {retry}", stacklevel=2)

    @torch.inference_mode()
    def _tiled(
        self,
        rgb: np.ndarray,
        tile: int,
        batch: int,
        out_dtype: np.dtype,
        on_tile: TileCallback | None,
    ) -> np.ndarray:
        height, width = rgb.shape[:2]
        s = self.scale
        overlap, rows, cols = self._spans(height, width, tile)
        output = np.empty((height * s, width * s, 3), dtype=out_dtype)
        host_output = torch.from_numpy(output)
        total = len(rows) * len(cols)
        if total == 1:
            # Its weights are all 1: blending would add it to zeros and divide it by 1.
            ((_, tile_out, finite),) = self._band_tiles(rgb, rows[0], cols, 1)
            host_output.copy_(_to_samples(tile_out.permute(1, 2, 0), out_dtype))
            if not finite:  # known by now: the copy waited for the device
                tile_out = self._exact_tile(rgb, rows[0], cols[0])
                host_output.copy_(_to_samples(tile_out.permute(1, 2, 0), out_dtype))
            if on_tile is not None:
                on_tile(1, 1)
            return output
        # Before any work is queued: each copy from pageable memory waits for the device.
        col_weights = [self._on_device(ramp_weights(span, width, overlap, s)) for span in cols]
        row_weights = [self._on_device(ramp_weights(span, height, overlap, s)) for span in rows]
        done = 0
        # Band accumulators cover output rows [band_top, band_top + len) of the current tile row.
        band_top = 0
        acc = torch.zeros((0, width * s, 3), device=self.device)
        weight = torch.zeros((0, width * s, 1), device=self.device)
        for r, (y0, y1) in enumerate(rows):
            grow = y1 * s - band_top - acc.shape[0]
            acc = torch.cat([acc, acc.new_zeros((grow, width * s, 3))])
            weight = torch.cat([weight, weight.new_zeros((grow, width * s, 1))])
            top = y0 * s - band_top
            flags = []
            for index, tile_out, finite in self._band_tiles(rgb, (y0, y1), cols, batch):
                x0 = cols[index][0] * s
                w = (row_weights[r][:, None] * col_weights[index][None, :])[:, :, None]
                # In fp32 a non-finite tile is an error at the band's end: no need to mask it.
                mask = None if self.dtype == torch.float32 else finite
                _blend_into(acc, weight, tile_out.permute(1, 2, 0), w, top, x0, mask)
                flags.append(finite)
                done += 1
                if on_tile is not None:  # on a GPU: tiles queued, at most a band ahead
                    on_tile(done, total)
            # The band's one wait for the device before its copy back.
            for index, ok in enumerate(torch.stack(flags).tolist()):
                if not ok:
                    exact = self._exact_tile(rgb, (y0, y1), cols[index])
                    x0 = cols[index][0] * s
                    w = (row_weights[r][:, None] * col_weights[index][None, :])[:, :, None]
                    _blend_into(acc, weight, exact.permute(1, 2, 0), w, top, x0, None)
            # Rows above the next tile row's top are final.
            final_bottom = rows[r + 1][0] * s if r + 1 < len(rows) else height * s
            count = final_bottom - band_top
            finished = _to_samples(acc[:count] / weight[:count], out_dtype)
            host_output[band_top:final_bottom].copy_(finished)
            acc, weight, band_top = acc[count:], weight[count:], final_bottom
        return output

    def _spans(
        self, height: int, width: int, tile: int
    ) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """The overlap, and the tile rows and columns of a `height` x `width` image: one tiling
        decision for the upscale, its batch size and the network-pixel count."""
        overlap = self._overlap(tile)
        rows = axis_spans(height, tile, overlap, self.tile_context)
        cols = axis_spans(width, tile, overlap, self.tile_context)
        return overlap, rows, cols

    def _overlap(self, tile: int) -> int:
        """Default: 8 px with a tile context (32 px without), but at most a quarter of the
        tile (small tiles, OOM retries)."""
        if self.tile_overlap is None:
            default = CONTEXT_OVERLAP if self.tile_context else DEFAULT_OVERLAP
            return min(default, tile // 4)
        return min(self.tile_overlap, tile // 2 - 1)

    def _on_device(self, weights: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(weights).to(self.device)

    def _band_tiles(
        self, rgb: np.ndarray, row: Span, cols: list[Span], batch: int
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(column index, 3xHxW output in [0, 1], finite flag) of each tile in tile row `row`,
        each computed from its context window, `batch` windows per forward. Outputs and flags
        stay on the device: nothing here waits."""
        height, width = rgb.shape[:2]
        row_window = self._window(row, height)
        windows = [self._window(col, width) for col in cols]
        for start in range(0, len(cols), batch):
            group = windows[start : start + batch]  # all one size (context_window)
            y, finite = self._forward(self._upload([self._cut(rgb, row_window, w) for w in group]))
            for offset, window in enumerate(group):
                index = start + offset
                tile_out = self._tile_of(y[offset], (row_window, window), (row, cols[index]))
                yield index, tile_out, finite[offset]

    def _window(self, span: Span, length: int) -> Span:
        """The input pixels a tile's output is computed from along one axis: context_window
        within the axis as the model sees it in one piece (mirrored out to MIN_CONTEXT and to
        the pixel-unshuffle factor, evenly on both sides)."""
        extent = padded_extent(length, MIN_CONTEXT, self._multiple)
        return context_window(span, length, extent, self.tile_context, self._multiple)

    def _cut(self, rgb: np.ndarray, rows: Span, cols: Span) -> np.ndarray:
        """The pixels of a window, mirrored where it reaches beyond the picture (the picture's
        own mirrored border, as the model sees it in one piece)."""
        height, width = rgb.shape[:2]
        (y0, y1), (x0, x1) = rows, cols
        before, after = (max(-y0, 0), max(-x0, 0)), (max(y1 - height, 0), max(x1 - width, 0))
        inside = rgb[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
        if not any(before + after):
            return inside
        pad = ((before[0], after[0]), (before[1], after[1]), (0, 0))
        return np.pad(inside, pad, mode="reflect")

    def _upload(self, windows: list[np.ndarray]) -> torch.Tensor:
        """Same-size HxWx3 host windows as an Nx3xHxW float32 batch in [0, 1] on the device.
        Samples travel in their own type (1 byte each for 8-bit images) and are divided by
        their peak on the device, as `convert` does on the host; on CUDA from pinned memory,
        so the host goes on while they travel."""
        stacked = torch.from_numpy(np.stack(windows))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory()
        x = stacked.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        if windows[0].dtype.kind == "u":
            x /= np.iinfo(windows[0].dtype).max
        return x.contiguous(memory_format=self._memory_format)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fast model's outputs of a batch of windows, and per window whether its output
        was finite. Both stay on the device."""
        if self.dtype == torch.float32:
            y = self._run(x)
        else:
            with torch.autocast(self.device.type, dtype=self.dtype):
                y = self._run(x.to(self.dtype)).float()
        # A sum is NaN/Inf where any value is (or where finite ones overflow float32, which
        # only broken weights make): on 2 CPU threads 6x (1200x800 output) to 15x (5760x5760)
        # faster than isfinite(y).all(), which took 49 ms and 0.7 s there.
        return y, torch.isfinite(y.sum(dim=(1, 2, 3)))

    def _exact_tile(self, rgb: np.ndarray, row: Span, col: Span) -> torch.Tensor:
        """The fp32 model's 3xHxW output of a tile whose output was not finite; in fp32 (the
        weights themselves make NaN/Inf) an error."""
        if self.dtype != torch.float32:
            warnings.warn(
                "non-finite values in a low-precision tile; recomputed in fp32", stacklevel=6
            )
            height, width = rgb.shape[:2]
            windows = (self._window(row, height), self._window(col, width))
            y = self._exact(self._upload([self._cut(rgb, *windows)]))
            if torch.isfinite(y.sum()):
                return self._tile_of(y[0], windows, (row, col))
        raise CheckpointError(
            f"{self.model_name}: the model outputs NaN/Inf even in fp32; its weights"
            " are broken (NaN/Inf or overflowing), use another checkpoint"
        )

    def _tile_of(
        self, window_out: torch.Tensor, windows: tuple[Span, Span], tile: tuple[Span, Span]
    ) -> torch.Tensor:
        """The output of a tile (rows, columns) within the 3xHxW output of its windows (rows,
        columns), clamped to [0, 1]."""
        s = self.scale
        ((wy0, _), (wx0, _)), ((y0, y1), (x0, x1)) = windows, tile
        rows = slice((y0 - wy0) * s, (y1 - wy0) * s)
        return window_out[:, rows, (x0 - wx0) * s : (x1 - wx0) * s].clamp(0, 1)


def model_context(model: nn.Module) -> int:
    """Input pixels of the picture a tile of `model` needs around it: TILE_CONTEXT, or for a
    pixel-unshuffle model UNSHUFFLED_CONTEXT of its trunk's pixels where that is more."""
    rrdb = getattr(model.config, "rrdb", model.config)
    return max(TILE_CONTEXT, UNSHUFFLED_CONTEXT * getattr(rrdb, "input_unshuffle", 1))


def check_outscale(outscale: float | None) -> None:
    """--outscale must be a finite, positive factor (None: the model's own scale)."""
    if outscale is not None and not (math.isfinite(outscale) and outscale > 0):
        raise ConfigError(f"--outscale must be a positive number, but got {outscale:g}")


def _blend_into(
    acc: torch.Tensor,
    weight: torch.Tensor,
    tile_out: torch.Tensor,
    tile_weight: torch.Tensor,
    top: int,
    left: int,
    finite: torch.Tensor | None,
) -> None:
    """acc += tile_out * tile_weight and weight += tile_weight from output row `top`, column
    `left` (HxWx3 and HxWx1): a float32 product, then a sum, as the host path rounded them.
    A tile whose device flag `finite` is False adds nothing; None: known to be finite."""
    weighted = tile_out * tile_weight
    if finite is not None:
        weighted = torch.where(finite, weighted, 0.0)
        tile_weight = torch.where(finite, tile_weight, 0.0)
    height, width = tile_weight.shape[:2]
    acc[top : top + height, left : left + width] += weighted
    weight[top : top + height, left : left + width] += tile_weight


def _to_samples(image: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
    """Float [0, 1] samples in `dtype` on their device: sample_types.convert's float32
    operations in its order, so that the CPU gives its bits (rint and torch.round both round
    half to even)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return image.clamp(0.0, 1.0)
    peak = np.iinfo(dtype).max
    return (image * peak).round_().clamp_(0, peak).to(SAMPLE_TYPES[dtype])


def _resize(
    image: np.ndarray, size: tuple[int, int], interpolation: int | None = None
) -> np.ndarray:
    """Quality resize to (height, width): area averaging to shrink, Lanczos to enlarge."""
    height, width = size
    if interpolation is None:
        shrinking = height < image.shape[0] or width < image.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, *image.shape[2:])


def _bleed_colour(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Give fully transparent pixels the colour of nearby visible ones.

    Transparent pixels often hold black or garbage colour; the model would smear it across
    the edge of the visible shape (dark fringes). Each fully transparent pixel takes the
    alpha-weighted mean colour of the smallest box around it that holds visible pixels;
    visible and semi-transparent pixels keep their colour.
    """
    a = convert(alpha, np.dtype(np.float32))[:, :, None]
    todo = a[:, :, 0] <= 0
    if not todo.any():
        return rgb
    colour = convert(rgb, np.dtype(np.float32))
    weighted = colour * a
    result = colour.copy()
    radius = 1
    while todo.any() and radius <= 2 * max(rgb.shape[:2]):
        size = (2 * radius + 1, 2 * radius + 1)
        blur_colour = cv2.blur(weighted, size).reshape(colour.shape)
        blur_alpha = cv2.blur(a, size).reshape(a.shape[:2])
        found = todo & (blur_alpha > 1e-6)
        result[found] = blur_colour[found] / blur_alpha[found][:, None]
        todo &= ~found
        radius *= 2
    return convert(result, rgb.dtype)
