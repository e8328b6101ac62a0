"""Patch statistics and the CATI: against a plain per-window loop, on known noise."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from noise_images import LUMA_NOISE_GAIN, noisy_image

from rwsr.data.ngdc.cati import NoiseSamplingConfig, compute_cati
from rwsr.data.ngdc.patches import patch_statistics
from rwsr.errors import InputError


def test_statistics_match_a_plain_loop_over_windows_on_a_photo() -> None:
    photo = skimage.data.astronaut()[:300, :250]  # 4 x 3 full windows of 64, edges left out
    stats = patch_statistics(photo, patch=64)
    assert len(stats) == 12
    rgb = photo.astype(np.float64)
    gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    for k, (y, x) in enumerate(zip(stats.y, stats.x)):
        window = gray[y : y + 64, x : x + 64]
        assert stats.mean[k] == pytest.approx(window.mean(), abs=1e-9)
        assert stats.variance[k] == pytest.approx(window.var(), abs=1e-7)
        samples = photo[y : y + 64, x : x + 64]
        assert stats.clipped[k] == bool((samples == 0).any() or (samples == 255).any())
    assert sorted(set(stats.y.tolist())) == [0, 64, 128, 192]
    assert sorted(set(stats.x.tolist())) == [0, 64, 128]


@pytest.mark.parametrize("sigma", [2.0, 6.0])
def test_flat_windows_measure_the_known_noise(sigma: float) -> None:
    stats = patch_statistics(noisy_image(1, sigma), patch=32)
    flat = ~((stats.y >= 128) & (stats.x >= 128))
    expected = sigma**2 * LUMA_NOISE_GAIN
    median = float(np.median(stats.variance[flat]))
    assert median == pytest.approx(expected, rel=0.12)  # rounding adds ~1/12 * gain
    assert stats.variance[~flat].min() > 50 * expected  # texture is far above the noise


def test_clipped_windows_are_flagged() -> None:
    image = noisy_image(2, 3.0)
    image[:32, :32] = 255
    image[40, 40, 2] = 0
    stats = patch_statistics(image, patch=32)
    flagged = {(int(y), int(x)) for y, x, c in zip(stats.y, stats.x, stats.clipped) if c}
    assert (0, 0) in flagged and (32, 32) in flagged
    assert (0, 32) not in flagged


def test_image_smaller_than_a_window_is_refused() -> None:
    with pytest.raises(InputError, match="smaller than one 64x64 patch"):
        patch_statistics(np.zeros((40, 100, 3), np.uint8), patch=64)


def test_cati_is_the_range_of_the_bottom_percentile() -> None:
    rng = np.random.default_rng(0)
    variance = rng.uniform(0, 100, size=1000)
    mean = rng.uniform(0, 255, size=1000)
    cati = compute_cati(variance, mean, config=NoiseSamplingConfig(percentile=2.0))
    bottom = np.argsort(variance)[:20]
    assert cati.selected == 20 and not cati.widened
    assert cati.variance == (variance[bottom].min(), variance[bottom].max())
    assert cati.mean == (mean[bottom].min(), mean[bottom].max())
    inside = cati.contains(variance, mean)
    assert inside[bottom].all()  # bounds are inclusive
    assert not inside[variance > cati.variance[1]].any()


def test_too_few_patches_widen_or_refuse_with_reasons() -> None:
    variance = np.arange(30, dtype=float)
    mean = np.full(30, 100.0)
    widened = compute_cati(variance, mean, config=NoiseSamplingConfig(min_patches=5))
    assert widened.widened and widened.selected == 5 and widened.variance == (0.0, 4.0)
    assert "widened from 2%" in widened.describe()
    strict = NoiseSamplingConfig(min_patches=5, too_few="refuse")
    with pytest.raises(InputError, match="bottom 2% of 30 patches is 1 patch"):
        compute_cati(variance, mean, config=strict)
    with pytest.raises(InputError, match="only 30 exist"):
        compute_cati(variance, mean, config=NoiseSamplingConfig(min_patches=50))
    with pytest.raises(InputError, match="no usable patches"):
        compute_cati(np.zeros(0), np.zeros(0))


def test_fixed_rule_keeps_exactly_variance_below_and_mean_above() -> None:
    """The authors' released bank: variance < max_variance and mean > min_mean, strictly."""
    rng = np.random.default_rng(1)
    variance = np.concatenate([rng.uniform(0, 60, size=500), [20.0, 19.999, 5.0, 5.0]])
    mean = np.concatenate([rng.uniform(0, 255, size=500), [120.0, 120.0, 50.0, 50.001]])
    config = NoiseSamplingConfig(max_variance=20, min_mean=50)
    cati = compute_cati(variance, mean, config=config)
    expected = (variance < 20) & (mean > 50)
    assert np.array_equal(cati.contains(variance, mean), expected)
    assert cati.contains(variance[-4:], mean[-4:]).tolist() == [False, True, False, True]
    assert cati.rule == "fixed" and cati.selected == int(expected.sum())
    assert cati.describe().startswith("fixed rule: variance < 20.000, mean > 50.00")
    assert "--max-variance" in cati.how_to_widen()


def test_min_mean_alone_is_refused() -> None:
    with pytest.raises(ValueError, match="give max_variance too"):
        NoiseSamplingConfig(min_mean=50)
