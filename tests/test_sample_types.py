"""The conventions of rwsr's one sample-type conversion, per type: the peaks, uint16 / 65535 to
[0, 1] but / 257 to the metrics' 0-255, ties to even, clipping, and the precision of each."""

from __future__ import annotations

import numpy as np
import pytest

from rwsr import imageio
from rwsr.errors import InputError
from rwsr.metrics import color
from rwsr.sample_types import convert, from_unit, peak, to_float255, to_unit
from rwsr.upscale import engine

U8 = np.arange(256, dtype=np.uint8)
U16 = np.arange(65536, dtype=np.uint16)


def test_integers_divide_by_their_peak_in_float32() -> None:
    assert peak(np.uint8) == 255 and peak(np.uint16) == 65535
    for values in (U8, U16):
        unit = to_unit(values)
        assert unit.dtype == np.float32
        expected = values.astype(np.float32) / np.float32(peak(values.dtype))
        assert unit.tobytes() == expected.tobytes()
        assert unit[0] == 0 and unit[-1] == 1
    assert to_unit(np.array([257], np.uint16))[0] == np.float32(1 / 255)  # 257 is 1/255
    assert to_unit(U8, np.float64).tobytes() == (U8 / 255.0).tobytes()  # in the type asked for


def test_floats_are_clipped_to_unit_range() -> None:
    values = np.array([-0.5, 0.0, 0.25, 1.0, 1.5], np.float64)
    unit = to_unit(values)
    assert unit.dtype == np.float32
    np.testing.assert_array_equal(unit, [0, 0, 0.25, 1, 1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_integer_survives_the_round_trip(dtype: type) -> None:
    values = U8 if dtype is np.uint8 else U16
    np.testing.assert_array_equal(from_unit(to_unit(values), dtype), values)
    np.testing.assert_array_equal(imageio.from_float(imageio.to_float(values), dtype), values)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_integer_rounds_to_nearest_and_clips(dtype: type) -> None:
    top = peak(dtype)
    values = np.array([-1.0, -1e-9, 0.4 / top, 0.6 / top, 1 - 0.4 / top, 1.0, 1.2], np.float64)
    np.testing.assert_array_equal(from_unit(values, dtype), [0, 0, 0, 1, top, top, top])
    assert from_unit(values, dtype).dtype == dtype


def test_ties_go_to_even_in_the_precision_of_the_input() -> None:
    """float32(2.5 / 255) * 255 is 2.5 exactly in float32 (a tie: 2, the even neighbour) and
    2.50000009 in float64 (3). The engine rounds in float32, as its device path does;
    imageio.from_float widens to float64 first, the exact product."""
    x = np.array([2.5 / 255], np.float32)
    assert x[0] * np.float32(255) == np.float32(2.5)
    assert from_unit(x, np.uint8)[0] == 2
    assert convert(x, np.uint8)[0] == 2
    assert from_unit(x.astype(np.float64), np.uint8)[0] == 3
    assert imageio.from_float(x)[0] == 3
    ties = np.array([0.5, 1.5, 2.5, 3.5]) / 255
    assert np.array_equal(ties * 255, [0.5, 1.5, 2.5, 3.5])  # exact ties in float64 too
    np.testing.assert_array_equal(from_unit(ties), [0, 2, 2, 4])


def test_convert_between_types_goes_through_float32() -> None:
    assert convert(U8, np.uint8) is U8  # already that type: as it is
    np.testing.assert_array_equal(convert(U8, np.uint16), U8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(convert(U16, np.uint8), np.rint(U16 / 257.0).astype(np.uint8))
    f32 = convert(U16, np.float32)
    assert f32.tobytes() == to_unit(U16).tobytes()
    # To float64 through float32: the float32 quotient, widened.
    assert convert(U8, np.float64).tobytes() == to_unit(U8).astype(np.float64).tobytes()
    np.testing.assert_array_equal(convert(np.array([-0.1, 1.1], np.float64), np.float32), [0, 1])
    unclipped = np.array([1.5], np.float32)
    assert convert(unclipped, np.float32) is unclipped
    assert engine.convert is convert  # the engine's one conversion is this one


def test_metrics_scale_is_uint16_over_257() -> None:
    """0-255 in float64, unrounded: uint8 as is, uint16 / 257 (not * 255 / 65535, which
    differs in the last bits), float * 255."""
    assert color.to_float255 is to_float255
    np.testing.assert_array_equal(to_float255(U8), U8.astype(np.float64))
    assert to_float255(U16).tobytes() == (U16.astype(np.float64) / 257.0).tobytes()
    assert to_float255(np.array([65535], np.uint16))[0] == 255.0
    assert to_float255(np.array([257], np.uint16))[0] == 1.0
    half = np.array([0.5], np.float32)
    assert to_float255(half).dtype == np.float64 and to_float255(half)[0] == 127.5
    assert to_float255(np.array([1.2])).max() == pytest.approx(306.0)  # not clipped


def test_other_sample_types_are_refused() -> None:
    with pytest.raises(InputError, match="unsupported sample type bool"):
        to_unit(np.zeros(3, bool))
    with pytest.raises(InputError, match="unsupported sample type int16"):
        to_float255(np.zeros(3, np.int16))
