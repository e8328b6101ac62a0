from __future__ import annotations

import itertools

import numpy as np
import pytest

from rwsr.upscale.tiling import axis_spans, ramp_weights


@pytest.mark.parametrize(
    ("length", "tile", "overlap"),
    [(100, 100, 8), (101, 100, 8), (481, 256, 32), (1000, 96, 32), (97, 64, 0)],
)
def test_spans_cover_with_overlap(length: int, tile: int, overlap: int) -> None:
    spans = axis_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (a0, a1), (b0, b1) in itertools.pairwise(spans):
        assert a1 - b0 >= overlap  # neighbours share at least `overlap` pixels
        assert b0 > a0
    assert all(b - a == min(tile, length) for a, b in spans)


def test_ramps_rise_only_towards_neighbours() -> None:
    inner = ramp_weights((10, 30), 50, ramp=4, scale=2)
    assert inner.shape == (40,)
    assert inner[0] < 0.1 and inner[-1] < 0.1 and inner[20] == 1
    assert np.all(np.diff(inner[:8]) > 0)
    border = ramp_weights((0, 30), 50, ramp=4, scale=2)
    assert border[0] == 1 and border[-1] < 0.1


def test_overlap_must_be_smaller_than_tile() -> None:
    with pytest.raises(ValueError):
        axis_spans(500, 64, 64)
