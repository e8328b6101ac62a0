"""Overlapping tiles and their blending weights (pure functions, no torch).

Tiles cover the image with at least `overlap` input pixels shared between neighbours. Each
tile's output is weighted by a separable ramp that rises from ~0 to 1 across the overlap on
every side that has a neighbour (flat at the image border), and the weighted sum is divided
by the summed weights. The model's least reliable pixels, at tile edges where context is
missing, thus get the least weight, and there is no step at tile borders.
"""

from __future__ import annotations

import math

import numpy as np


def axis_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of tiles along one axis, evenly spaced, each `tile` long (or the
    whole axis when it is shorter), neighbours sharing at least `overlap` pixels."""
    if length <= tile:
        return [(0, length)]
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile size ({tile})")
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [(round(i * step), round(i * step) + tile) for i in range(count)]


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
