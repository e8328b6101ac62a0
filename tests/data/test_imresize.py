"""MATLAB-exact bicubic: hand-derived kernel values, invariants, PIL agreement, numpy == torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from rwsr.data.imresize import contributions, imresize
from rwsr.errors import ConfigError

# Keys a=-0.5 at offsets 0.25, 0.75, 1.25, 1.75: 111/128, 29/128, -9/128, -3/128 (exact
# dyadic values). Shrinking by 2 stretches the kernel by 2 and halves it (offsets 0.5..3.5
# in input pixels), giving the classic taps [-3, -9, 29, 111, 111, 29, -9, -3] / 256.


def test_halving_an_impulse_gives_the_stretched_keys_kernel() -> None:
    row = np.zeros((1, 32))
    row[0, 15] = 1.0  # 1-based position 16: output k sees it at offset 2k - 0.5 - 16
    even = imresize(row, size=(1, 16))[0] * 256
    row = np.roll(row, 1, axis=1)  # position 17
    odd = imresize(row, size=(1, 16))[0] * 256
    np.testing.assert_allclose(even[6:10], [-9, 111, 29, -3], atol=1e-12)
    np.testing.assert_allclose(odd[6:10], [-3, 29, 111, -9], atol=1e-12)
    assert np.count_nonzero(np.abs(even) > 1e-12) == 4


def test_doubling_uses_keys_weights_and_symmetric_padding_at_the_border() -> None:
    x = np.array([[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]])
    out = imresize(x, size=(1, 12))[0] * 128
    # Output 1 sits at input 0.75: taps at -1, 0, 1, 2 mirror to 2, 1, 1, 2 (edge repeated).
    assert out[0] == pytest.approx(-3 * 20 + 29 * 10 + 111 * 10 - 9 * 20)
    # Output 6 sits at input 3.25: taps 2, 3, 4, 5 at offsets 1.25, 0.25, 0.75, 1.75.
    assert out[5] == pytest.approx(-9 * 20 + 111 * 30 + 29 * 40 - 3 * 50)


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 0.7, 2.0, 3.0])
def test_constant_image_stays_constant(scale: float) -> None:
    image = np.full((37, 29, 3), 173, dtype=np.uint8)
    out = imresize(image, scale)
    assert out.dtype == np.uint8 and np.all(out == 173)
    flat = imresize(np.full((37, 29), 0.6180339, dtype=np.float64), scale)
    np.testing.assert_allclose(flat, 0.6180339, rtol=0, atol=1e-12)


def test_scale_one_is_identity() -> None:
    photo = skimage.data.astronaut()[:64, :80]
    assert np.array_equal(imresize(photo, 1.0), photo)
    as_float = photo.astype(np.float32) / 255
    assert np.array_equal(imresize(as_float, size=(64, 80)), as_float)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0, 3.0])
def test_linear_ramp_stays_linear_away_from_borders(scale: float) -> None:
    n = 64
    ramp = np.tile(np.arange(1, n + 1, dtype=np.float64) * 0.5 + 3.0, (5, 1))
    out = imresize(ramp, size=(5, round(n * scale)))[2]
    centres = np.arange(1, out.size + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coords
    margin = int(np.ceil(2 * max(1.0, 1 / scale) * scale)) + 1
    expected = centres * 0.5 + 3.0
    np.testing.assert_allclose(out[margin:-margin], expected[margin:-margin], atol=1e-9)


def test_output_size_is_ceil_of_scaled_size() -> None:
    image = np.zeros((10, 7, 3), dtype=np.uint8)
    assert imresize(image, 0.25).shape == (3, 2, 3)
    assert imresize(image, (0.5, 2.0)).shape == (5, 14, 3)
    assert imresize(image, size=(4, 9)).shape == (4, 9, 3)


def test_uint8_rounds_half_away_from_zero_like_matlab() -> None:
    row = np.full((1, 32), 99, dtype=np.uint8)
    row[0, 15] = 99 + 128  # output 8 = 99 + 128 * 111/256 = 154.5 exactly
    out = imresize(row, size=(1, 16))
    assert out[0, 7] == 155  # round-half-to-even would give 154


def test_uint16_saturates_instead_of_wrapping() -> None:
    image = np.zeros((16, 16), dtype=np.uint16)
    image[:, 8:] = 65535
    out = imresize(image, 2.0)
    assert out.dtype == np.uint16
    assert out.max() == 65535 and out.min() == 0  # the overshoot is clipped, not wrapped


# Measured: max |ours - PIL| on the 0-255 float scale is 6.1e-5 (float32 rounding) away from
# the borders; PIL renormalises at the border instead of mirroring, so borders differ.
PIL_TOLERANCE = 1e-3


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0, 3.0])
def test_agrees_with_pil_antialiased_bicubic_away_from_borders(scale: float) -> None:
    photo = skimage.data.astronaut()[100:196, 150:246].astype(np.float32)
    ours = imresize(photo, scale)
    height, width = ours.shape[:2]
    pil = np.stack(
        [
            np.asarray(
                Image.fromarray(photo[:, :, c], mode="F").resize((width, height), Image.BICUBIC)
            )
            for c in range(3)
        ],
        axis=-1,
    )
    margin = int(np.ceil(2 * max(1.0, 1 / scale) * scale)) + 1
    inner = np.abs(ours - pil)[margin:-margin, margin:-margin]
    assert inner.max() < PIL_TOLERANCE
    assert np.abs(ours - pil).max() > PIL_TOLERANCE  # borders do differ: symmetric padding


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_torch_batch_matches_numpy(dtype: type) -> None:
    photos = [  # 4 images x 3 channels: more than the one-by-one batch limit of 8
        skimage.data.astronaut()[:70, :90],
        skimage.data.chelsea()[:70, :90],
        skimage.data.coffee()[:70, :90],
        skimage.data.astronaut()[100:170, 200:290],
    ]
    photos = [p if dtype == np.uint8 else p.astype(np.float32) / 255 for p in photos]
    batch = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)
    out = imresize(batch, size=(23, 31))
    assert out.dtype == batch.dtype and out.shape == (4, 3, 23, 31)
    single = imresize(batch[1], size=(23, 31))  # CHW: the one-by-one path
    assert torch.allclose(single.double(), out[1].double(), atol=2e-6)
    for index, photo in enumerate(photos):
        expected = imresize(photo, size=(23, 31))
        got = out[index].permute(1, 2, 0).numpy()
        if dtype == np.uint8:
            assert np.array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, atol=2e-6)


def test_bad_arguments_raise_clear_errors() -> None:
    image = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(ConfigError, match="scale factor or an output size"):
        imresize(image)
    with pytest.raises(ConfigError, match="positive"):
        imresize(image, -0.5)
    with pytest.raises(TypeError, match="int32"):
        imresize(image.astype(np.int32), 0.5)


@pytest.mark.parametrize(
    ("shape", "size"), [((53, 41), (13, 11)), ((20, 30), (57, 31)), ((9, 64), (9, 17))]
)
def test_tiled_products_equal_the_plain_weighted_sum_of_taps(
    shape: tuple[int, int], size: tuple[int, int]
) -> None:
    rng = np.random.default_rng(7)
    image = rng.random(shape + (2,))
    expected = image
    for axis in (0, 1) if size[0] / shape[0] <= size[1] / shape[1] else (1, 0):
        weights, indices = reference_taps(shape[axis], size[axis], size[axis] / shape[axis])
        moved = np.moveaxis(expected, axis, 0)
        summed = np.einsum("kt,kt...->k...", weights, moved[indices])
        expected = np.moveaxis(summed, 0, axis)
    np.testing.assert_allclose(imresize(image, size=size), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_torch_keeps_half_and_double_precision_types(dtype: torch.dtype) -> None:
    photo = torch.from_numpy(skimage.data.astronaut()[:64, :64].astype(np.float32) / 255)
    chw = photo.permute(2, 0, 1)
    out = imresize(chw.to(dtype), 0.5)
    assert out.dtype == dtype and out.shape == (3, 32, 32)
    reference = imresize(chw, 0.5)
    tolerance = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-6}[dtype]
    assert (out.float() - reference).abs().max() < tolerance


def test_scale_and_size_together_follow_matlab() -> None:
    # MATLAB: the weights come from the scale, the output size from `size`.
    image = skimage.data.camera()[:40, :40].astype(np.float64)
    both = imresize(image, 0.5, size=(21, 21))
    assert both.shape == (21, 21)
    np.testing.assert_allclose(both[:20, :20], imresize(image, 0.5), atol=1e-12)


def reference_taps(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB imresize's cubic taps for one axis, built here from the kernel formula and not
    from rwsr.data.imresize: output pixel k (1-based) sits at u = k / scale + (1 - 1 / scale)
    / 2 on the input; its taps are the ceil(width) + 2 pixels from floor(u - width / 2), where
    width = 4 (4 / scale when shrinking, with the kernel stretched to scale * h(scale * x));
    weights are normalised to sum to 1, indices reflected at the borders (symmetric padding)
    and tap columns whose weights are all zero dropped."""
    stretch = scale if scale < 1 else 1.0
    width = 4.0 / stretch
    count = math.ceil(width) + 2
    weights = np.zeros((out_length, count))
    indices = np.zeros((out_length, count), dtype=np.int64)
    for k in range(out_length):
        u = (k + 1) / scale + 0.5 * (1 - 1 / scale)
        first = math.floor(u - width / 2)
        for t in range(count):
            x = abs(stretch * (u - (first + t)))
            x2 = x * x
            if x <= 1:  # Keys (1981), a = -0.5
                h = 1.5 * (x2 * x) - 2.5 * x2 + 1.0
            elif x <= 2:
                h = -0.5 * (x2 * x) + 2.5 * x2 - 4.0 * x + 2.0
            else:
                h = 0.0
            weights[k, t] = stretch * h
            j = first + t - 1  # 0-based; reflect: -1 -> 0, n -> n - 1, ...
            while not 0 <= j < in_length:
                j = -j - 1 if j < 0 else 2 * in_length - j - 1
            indices[k, t] = j
        weights[k] /= weights[k].sum()
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def test_reference_taps_match_the_module_on_every_kind_of_axis() -> None:
    for in_length, out_length in ((212, 53), (212, 71), (286, 143), (20, 57), (9, 17), (64, 64)):
        scale = out_length / in_length
        weights, indices = contributions(in_length, out_length, scale, True)
        expected_weights, expected_indices = reference_taps(in_length, out_length, scale)
        np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(indices, expected_indices)


def plain_reference(
    image: np.ndarray, scale: float | tuple[float, float], size: tuple[int, int] | None = None
) -> np.ndarray:
    """MATLAB's imresize written out plainly: per pass (smaller scale first, rows on a tie),
    each output is the float64 sum of weight * tap, tap by tap; uint8 passes are rounded half
    away from zero and saturated."""
    scales = (scale, scale) if isinstance(scale, float) else scale
    if size is None:
        size = (int(np.ceil(image.shape[0] * scales[0])), int(np.ceil(image.shape[1] * scales[1])))
    out = image.astype(np.float64)
    for axis in (0, 1) if scales[0] <= scales[1] else (1, 0):
        if size[axis] == out.shape[axis] and scales[axis] == 1:
            continue
        weights, indices = reference_taps(out.shape[axis], size[axis], scales[axis])
        moved = np.moveaxis(out, axis, 0)
        summed = np.zeros((size[axis],) + moved.shape[1:])
        for tap in range(weights.shape[1]):
            column = weights[:, tap].reshape((-1,) + (1,) * (moved.ndim - 1))
            summed += column * moved[indices[:, tap]]
        if image.dtype == np.uint8:
            summed = np.clip(np.floor(summed + 0.5), 0, 255)
        out = np.moveaxis(summed, 0, axis)
    return out.astype(image.dtype)


PHOTO = skimage.data.astronaut()[40:252, 60:346]  # 212 x 286: regular batches and borders


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 0.7, 2.0, 3.0])
def test_uint8_is_the_rounded_float64_sum_of_every_pass(scale: float) -> None:
    expected = plain_reference(PHOTO, scale)
    assert np.array_equal(imresize(PHOTO, scale), expected)  # HWC, interleaved width pass
    gray = PHOTO[:, :, 1]
    assert np.array_equal(imresize(gray, scale), plain_reference(gray, scale))
    chw = torch.from_numpy(PHOTO).permute(2, 0, 1)  # a view: channels are not contiguous
    assert np.array_equal(imresize(chw, scale).permute(1, 2, 0).numpy(), expected)
    batch = chw.expand(4, 3, -1, -1)  # 12 planes: the transposed-copy layout
    assert np.array_equal(imresize(batch, scale)[3].permute(1, 2, 0).numpy(), expected)


def test_uint8_exactness_does_not_depend_on_the_float32_matmul_precision() -> None:
    expected = plain_reference(PHOTO, 0.25)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # allows bf16 products on AMX CPUs
    try:
        assert np.array_equal(imresize(PHOTO, 0.25), expected)
    finally:
        torch.set_float32_matmul_precision(previous)


def test_uint16_is_the_rounded_float64_sum_of_every_pass() -> None:
    image = PHOTO.astype(np.uint16) * 257 + 3
    out = imresize(image, 0.5)
    weights_h, indices_h = reference_taps(212, 106, 0.5)
    rows = np.zeros((106, 286, 3))
    for tap in range(weights_h.shape[1]):
        rows += weights_h[:, tap, None, None] * image[indices_h[:, tap]]
    rows = np.clip(np.floor(rows + 0.5), 0, 65535)
    weights_w, indices_w = reference_taps(286, 143, 0.5)
    cols = np.zeros((106, 143, 3))
    for tap in range(weights_w.shape[1]):
        cols += weights_w[None, :, tap, None] * rows[:, indices_w[:, tap]]
    assert np.array_equal(out, np.clip(np.floor(cols + 0.5), 0, 65535).astype(np.uint16))


def test_random_shapes_channels_scales_and_sizes_match_the_plain_reference() -> None:
    """Every layout (gray, RGB, RGBA, 5 channels; numpy HWC and torch CHW), regular and
    irregular tilings (p/q scales, sizes), uint8 exactly and floats to rounding."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(1, 90, size=2))
        channels = [None, 1, 3, 4, 5][rng.integers(0, 5)]
        shape = (height, width) if channels is None else (height, width, channels)
        image = rng.integers(0, 256, size=shape).astype(np.uint8)
        if rng.random() < 0.5:
            image = image.astype(np.float32) / 255
        if rng.random() < 0.5:
            scale = float(rng.choice([0.25, 0.5, 1 / 3, 0.7, 2.0, 3.0, 0.37, 1.5]))
            size, expected = None, plain_reference(image, scale)
            got = imresize(image, scale)
        else:
            size = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
            scale = (size[0] / height, size[1] / width)
            expected, got = plain_reference(image, scale, size), imresize(image, size=size)
        planar = torch.from_numpy(image).permute(2, 0, 1) if channels else None
        if planar is not None:
            planar = imresize(planar, None if size else scale, size=size).permute(1, 2, 0)
        for result in (got, planar.numpy() if planar is not None else got):
            if image.dtype == np.uint8:
                assert np.array_equal(result, expected), (shape, scale, size)
            else:
                np.testing.assert_allclose(result, expected, atol=1e-5, err_msg=str((shape, scale)))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_same_integers_and_floats_as_the_cpu() -> None:
    rng = np.random.default_rng(3)
    for dtype, peak in ((torch.uint8, 255), (torch.uint16, 65535), (torch.float32, 1.0)):
        for scale in (0.25, 1 / 3, 0.7, 1.5, 3.0):
            batch = torch.from_numpy(rng.integers(0, 256, size=(2, 3, 61, 47)) / 255 * peak)
            batch = batch.to(dtype) if dtype != torch.float32 else batch.float()
            cpu, cuda = imresize(batch, scale), imresize(batch.cuda(), scale).cpu()
            if dtype == torch.float32:
                torch.testing.assert_close(cuda, cpu, rtol=0, atol=1e-5)
            else:
                assert torch.equal(cuda, cpu), (dtype, scale)
