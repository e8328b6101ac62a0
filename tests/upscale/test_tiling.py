from __future__ import annotations

import itertools

import numpy as np
import pytest

from rwsr.upscale.tiling import axis_spans, context_window, padded_extent, ramp_weights


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


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "context", "multiple"),
    [(160, 64, 16, 32, 1), (1000, 96, 32, 32, 1), (301, 64, 16, 32, 4), (93, 32, 8, 0, 4)],
)
def test_every_window_holds_its_tile_and_the_context_around_it(
    length: int, tile: int, overlap: int, context: int, multiple: int
) -> None:
    extent = padded_extent(length, 16, multiple)
    spans = axis_spans(length, tile, overlap, context)
    windows = [context_window(span, length, extent, context, multiple) for span in spans]
    assert len({stop - start for start, stop in windows}) == 1  # one shape for every window
    for (start, stop), (first, last) in zip(spans, windows, strict=True):
        assert extent[0] <= first and last <= extent[1]
        assert first <= start - min(context, start - extent[0])  # all the context there is
        assert last >= stop + min(context, extent[1] - stop)
        assert (first - extent[0]) % multiple == 0 and (last - first) % multiple == 0


def test_an_axis_that_fits_in_one_window_is_one_tile() -> None:
    assert axis_spans(128, 64, 16, context=32) == [(0, 128)]
    assert len(axis_spans(129, 64, 16, context=32)) == 3
    # One tile gets the axis as the model sees it whole: 93 px mirrored out to 96, 1 px before.
    assert padded_extent(93, 16, 4) == (-1, 95)
    assert context_window((0, 93), 93, (-1, 95), 32, 4) == (-1, 95)
    assert padded_extent(5, 16, 1) == (-5, 11)
    assert context_window((0, 5), 5, (-5, 11), 0) == (-5, 11)
