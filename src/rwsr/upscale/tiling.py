"""Overlapping tiles and their blending weights (pure functions, no torch).

Tiles cover the image with at least `overlap` input pixels shared between neighbours. Each
tile's output is weighted by a separable ramp that rises from ~0 to 1 across the overlap on
every side that has a neighbour (flat at the image border), and the weighted sum is divided
by the summed weights, so there is no step at tile borders. The network itself sees more
than its tile: a window with `context` pixels of the picture on every side (context_window),
whose output outside the tile is dropped, so no kept pixel lacks the context it needs.
"""

from __future__ import annotations

import math

import numpy as np


def axis_spans(length: int, tile: int, overlap: int, context: int = 0) -> list[tuple[int, int]]:
    """[start, stop) ranges of tiles along one axis, evenly spaced, each `tile` long,
    neighbours sharing at least `overlap` pixels; the whole axis when it fits in one tile with
    its `context` (its window, `context_window`, would hold the whole axis anyway)."""
    if length <= tile + 2 * context:
        return [(0, length)]
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile size ({tile})")
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [(round(i * step), round(i * step) + tile) for i in range(count)]


def padded_extent(length: int, minimum: int, multiple: int) -> tuple[int, int]:
    """[start, stop) of an axis of `length` pixels as a model sees it in one piece: mirrored
    out, evenly on both sides, to at least `minimum` pixels and a multiple of `multiple`
    (a negative start: mirrored pixels before the picture)."""
    padded = max(length, minimum)
    padded += -padded % multiple
    before = (padded - length) // 2
    return -before, padded - before


def context_window(
    span: tuple[int, int], length: int, extent: tuple[int, int], context: int, multiple: int = 1
) -> tuple[int, int]:
    """[start, stop) of the input a tile's output is computed from: its span with at least
    `context` pixels on either side, inside `extent` (padded_extent of the axis). At the
    ends of the extent a window is shifted inside it, so every window of an axis has one size
    (one shape for batches and for cuDNN's autotuner). A model that works in blocks of
    `multiple` pixels (pixel-unshuffle) gets windows of whole blocks of the extent's grid:
    its tiles are cut into the blocks the untiled picture is cut into. A tile of the whole
    axis, or one whose window would hold the extent, gets the extent."""
    lo, hi = extent
    start, stop = span
    size = -(-(stop - start + 2 * context + multiple - 1) // multiple) * multiple
    if stop - start >= length or size >= hi - lo:
        return extent
    first = min(max(start - context, lo), hi - size)
    first -= (first - lo) % multiple
    return first, first + size


def ramp_weights(span: tuple[int, int], length: int, ramp: int, scale: int) -> np.ndarray:
    """1-D output weights of a tile covering input `span` of an axis of `length` pixels;
    ramps are `ramp` input pixels (ramp * scale output pixels) long."""
    start, stop = span
    size = (stop - start) * scale
    weights = np.ones(size, dtype=np.float32)
    ramp_out = min(ramp * scale, size // 2)
    if ramp_out > 0:
        rising = (np.arange(ramp_out, dtype=np.float32) + 0.5) / ramp_out
        if start > 0:
            weights[:ramp_out] = np.minimum(weights[:ramp_out], rising)
        if stop < length:
            weights[-ramp_out:] = np.minimum(weights[-ramp_out:], rising[::-1])
    return weights
