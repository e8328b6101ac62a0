"""PSNR, SSIM and the Y conversion against scikit-image and the BT.601 formula, on real pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rwsr.errors import InputError
from rwsr.metrics.color import rgb_to_y, rgb_to_y_uint8, round_like_uint8, to_float255
from rwsr.metrics.psnr_ssim import _blur_valid_cpu, _blur_valid_torch, psnr, ssim


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM as scikit-image computes it: a Gaussian 11x11 window (sigma 1.5,
    truncate 3.5), population covariances, mean over the image less 5 px per edge, which is
    exactly the valid region of the 11x11 window."""
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=-1 if a.ndim == 3 else None,
    )


@pytest.mark.parametrize("border", [0, 4])
def test_rgb_metrics_match_scikit_image(pair: tuple[np.ndarray, np.ndarray], border: int) -> None:
    sr, hr = pair
    crop = (slice(border, -border or None), slice(border, -border or None))
    expected_psnr = peak_signal_noise_ratio(hr[crop], sr[crop], data_range=255)
    expected_ssim = skimage_ssim(sr[crop].astype(np.float64), hr[crop].astype(np.float64))
    assert psnr(sr, hr, crop_border=border) == pytest.approx(expected_psnr, abs=1e-10)
    assert ssim(sr, hr, crop_border=border) == pytest.approx(expected_ssim, abs=1e-10)
    assert 15 < expected_psnr < 40 and 0.3 < expected_ssim < 0.99  # a real, imperfect pair


def test_y_metrics_match_scikit_image_on_its_own_y(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sr, hr = pair
    # scikit-image's rgb2ycbcr is an independent BT.601 implementation (Y on 16-235).
    y_sr, y_hr = rgb2ycbcr(sr)[..., 0], rgb2ycbcr(hr)[..., 0]
    expected_psnr = peak_signal_noise_ratio(y_hr[4:-4, 4:-4], y_sr[4:-4, 4:-4], data_range=255)
    expected_ssim = skimage_ssim(y_sr[4:-4, 4:-4], y_hr[4:-4, 4:-4])
    assert psnr(sr, hr, crop_border=4, channels="y") == pytest.approx(expected_psnr, abs=1e-9)
    assert ssim(sr, hr, crop_border=4, channels="y") == pytest.approx(expected_ssim, abs=1e-9)
    # Y differs from RGB: the conventions are not silently the same.
    assert abs(psnr(sr, hr, crop_border=4, channels="y") - psnr(sr, hr, crop_border=4)) > 0.1


def test_y_is_the_bt601_studio_range_formula() -> None:
    colours = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]])
    y = rgb_to_y(colours.astype(np.float64))[:, 0]
    # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255: black 16, white 235 and the primaries.
    np.testing.assert_allclose(y, [16.0, 235.0, 81.481, 144.553, 40.966], atol=1e-12)


def test_integer_y_rounds_exact_ties_away_from_zero() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(200_000, 3), dtype=np.uint8)
    exact = rgb_to_y_uint8(rgb)[:, 0]
    numerators = rgb.astype(np.int64) @ np.array([65481, 128553, 24966]) + 16 * 255_000
    ties = numerators % 255_000 == 127_500
    assert ties.any()  # real .5 ties occur, where floating point may round either way
    np.testing.assert_array_equal(exact[ties], (numerators[ties] + 127_500) // 255_000)
    floating = round_like_uint8(rgb_to_y(rgb.astype(np.float64)))[:, 0]
    np.testing.assert_array_equal(exact[~ties], floating[~ties])


def test_batches_equal_single_images(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sr, hr = pair
    other = np.ascontiguousarray(sr[::-1])
    batch_sr, batch_hr = np.stack([sr, other]), np.stack([hr, hr])
    np.testing.assert_allclose(
        psnr(batch_sr, batch_hr, crop_border=2), [psnr(s, hr, crop_border=2) for s in (sr, other)]
    )
    np.testing.assert_allclose(
        ssim(batch_sr, batch_hr, channels="y"),
        [ssim(s, hr, channels="y") for s in (sr, other)],
    )


def test_bit_depths_share_one_scale(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sr, hr = pair
    sr16, hr16 = sr.astype(np.uint16) * 257, hr.astype(np.uint16) * 257
    assert psnr(sr16, hr16) == pytest.approx(psnr(sr, hr), abs=1e-9)
    assert ssim(sr16, hr16) == pytest.approx(ssim(sr, hr), abs=1e-12)
    assert ssim(sr / 255.0, hr / 255.0) == pytest.approx(ssim(sr, hr), abs=1e-12)
    np.testing.assert_allclose(to_float255(np.array([65535], np.uint16)), [255.0])


def test_identical_images(pair: tuple[np.ndarray, np.ndarray]) -> None:
    _, hr = pair
    assert psnr(hr, hr) == float("inf")
    assert ssim(hr, hr) == pytest.approx(1.0, abs=1e-12)


def test_torch_filter_path_matches_opencv() -> None:
    # The path used on CUDA/MPS, run here on the CPU.
    maps = np.random.default_rng(1).random((3, 40, 53)) * 255
    torch_result = _blur_valid_torch(torch.from_numpy(maps)).numpy()
    np.testing.assert_allclose(torch_result, _blur_valid_cpu(maps), atol=1e-10)
    assert torch_result.shape == (3, 30, 43)


def test_clear_errors(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sr, hr = pair
    with pytest.raises(InputError, match="shape"):
        psnr(sr[:-1], hr)
    with pytest.raises(InputError, match="11x11"):
        ssim(sr[:16, :16], hr[:16, :16], crop_border=4)
    with pytest.raises(InputError, match="leaves nothing"):
        psnr(sr[:8, :8], hr[:8, :8], crop_border=4)
    with pytest.raises(InputError, match="RGB"):
        psnr(sr[..., 0], hr[..., 0])
