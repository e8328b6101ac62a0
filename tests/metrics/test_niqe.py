"""NIQE against a line-by-line transcription of the MATLAB release, pyiqa's values, the
pristine model file, AGGD fits of known distributions, and the properties NIQE must have."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage, stats
from scipy.special import gamma

from rwsr.data.imresize import imresize
from rwsr.errors import InputError
from rwsr.imageio import read_image
from rwsr.metrics import niqe as niqe_module
from rwsr.metrics.niqe import aggd_fit, filter_torch, luma, niqe


def pristine_file() -> dict[str, np.ndarray]:
    path = resources.files("rwsr.metrics").joinpath("data/niqe_pris_params.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        return dict(data)


# ---------------------------------------------------------------- MATLAB, line by line
# computequality.m, computefeature.m and estimateaggdparam.m of the NIQE release, written as
# plainly as possible: a 2-D window, scipy's filter, one block at a time, brute-force argmin.


def matlab_aggd(vec: np.ndarray) -> tuple[float, float, float]:
    gam = np.arange(0.2, 10.0005, 0.001)
    r_gam = gamma(2.0 / gam) ** 2 / (gamma(1.0 / gam) * gamma(3.0 / gam))
    with np.errstate(invalid="ignore", divide="ignore"):
        leftstd = np.sqrt(np.mean(vec[vec < 0] ** 2)) if (vec < 0).any() else np.nan
        rightstd = np.sqrt(np.mean(vec[vec > 0] ** 2)) if (vec > 0).any() else np.nan
        gammahat = leftstd / rightstd
        rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    position = 0 if np.isnan(rhatnorm) else int(np.argmin((r_gam - rhatnorm) ** 2))
    alpha = gam[position]
    factor = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, leftstd * factor, rightstd * factor


def matlab_feature(structdis: np.ndarray) -> list[float]:
    alpha, betal, betar = matlab_aggd(structdis.ravel())
    feat = [alpha, (betal + betar) / 2]
    for shift in ([0, 1], [1, 0], [1, 1], [1, -1]):
        shifted = np.roll(structdis, shift, axis=(0, 1))  # circshift
        alpha, betal, betar = matlab_aggd((structdis * shifted).ravel())
        meanparam = (betar - betal) * (gamma(2 / alpha) / gamma(1 / alpha))
        feat += [alpha, meanparam, betal, betar]
    return feat


def matlab_niqe(im: np.ndarray) -> float:
    params = pristine_file()
    mu_prisparam, cov_prisparam = params["mu_pris_param"][0], params["cov_pris_param"]
    rows, cols = im.shape[0] // 96, im.shape[1] // 96
    im = im[: rows * 96, : cols * 96]
    x = np.arange(-3, 4)
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    window /= window.sum()
    feat = []
    for itr_scale in (1, 2):
        mu = ndimage.correlate(im, window, mode="nearest")  # imfilter(..., 'replicate')
        sigma = np.sqrt(np.abs(ndimage.correlate(im * im, window, mode="nearest") - mu * mu))
        centred = im - mu
        centred[np.abs(centred) < 1e-6] = 0.0  # rwsr's documented rule for flat regions
        structdis = centred / (sigma + 1)
        size = 96 // itr_scale
        feat_scale = [
            matlab_feature(structdis[r * size : (r + 1) * size, c * size : (c + 1) * size])
            for c in range(cols)
            for r in range(rows)
        ]
        feat.append(np.array(feat_scale))
        im = imresize(im, 0.5)
    distparam = np.hstack(feat)
    mu_distparam = np.nanmean(distparam, axis=0)
    cov_distparam = np.cov(distparam[~np.isnan(distparam).any(axis=1)], rowvar=False)
    invcov_param = np.linalg.pinv((cov_prisparam + cov_distparam) / 2)
    diff = mu_prisparam - mu_distparam
    return float(np.sqrt(diff @ invcov_param @ diff))


@pytest.mark.parametrize(
    "name",
    [
        "021L",  # LR crop: smooth sky with saturated pixels, buildings
        "064H",  # HR crop: sky, lighthouse, lights
    ],
)
def test_matches_line_by_line_matlab_transcription(
    load_city100: Callable[[str], np.ndarray], name: str
) -> None:
    image = load_city100(name)
    expected = matlab_niqe(luma(image))
    assert niqe(image) == pytest.approx(expected, abs=1e-9)
    assert 2.0 < expected < 20.0


# pyiqa 0.1.16 (chaofengc/IQA-PyTorch, calibrated against MATLAB), run once on these whole
# files of ../shared as calculate_niqe(rgb_nchw_in_0_1, 0, True, "ycbcr", mu_pris, cov_pris)
# with the pristine parameters rwsr ships. pyiqa runs its shape grid and resize in float32,
# worth ~2e-4 here; a float64 build of pyiqa, given the same luma and the flat-region rule,
# agrees to 1e-12 on seven City100 images.
PYIQA_Y = {"050H": 4.21617005, "064H": 4.75932444}


@pytest.mark.parametrize("name", sorted(PYIQA_Y))
def test_agrees_with_pyiqa(city100: Path, name: str) -> None:
    assert niqe(read_image(city100 / f"{name}.PNG")) == pytest.approx(PYIQA_Y[name], abs=1e-3)


def test_pristine_model_file_is_basicsr_niqe() -> None:
    params = pristine_file()
    assert params["mu_pris_param"].shape == (1, 36) and params["cov_pris_param"].shape == (36, 36)
    np.testing.assert_allclose(params["cov_pris_param"], params["cov_pris_param"].T)
    assert np.linalg.eigvalsh(params["cov_pris_param"]).min() > -1e-12  # a covariance
    # The shipped window is MATLAB's fspecial('gaussian', 7, 7/6), which niqe.py builds itself.
    taps = niqe_module.gaussian_taps()
    np.testing.assert_allclose(np.outer(taps, taps), params["gaussian_window"], atol=1e-15)


def test_aggd_fit_recovers_known_distributions() -> None:
    rng = np.random.default_rng(3)
    # Symmetric generalised Gaussians (scipy's gennorm: shape beta, scale s).
    for shape, scale in ((0.8, 0.5), (2.0, 0.3), (3.5, 1.2)):
        samples = stats.gennorm.rvs(shape, scale=scale, size=(2, 200_000), random_state=rng)
        alpha, left, right, _ = aggd_fit(torch.from_numpy(samples))
        np.testing.assert_allclose(alpha.numpy(), shape, rtol=0.04)
        np.testing.assert_allclose(left.numpy(), scale, rtol=0.03)
        np.testing.assert_allclose(right.numpy(), scale, rtol=0.03)
    # Asymmetric: each side a half generalised Gaussian, P(x < 0) = beta_l / (beta_l + beta_r).
    beta_l, beta_r, shape = 0.2, 0.6, 1.5
    size = 400_000
    magnitude = np.abs(stats.gennorm.rvs(shape, size=size, random_state=rng))
    negative = rng.random(size) < beta_l / (beta_l + beta_r)
    samples = np.where(negative, -beta_l * magnitude, beta_r * magnitude)
    alpha, left, right, _ = aggd_fit(torch.from_numpy(samples)[None])
    assert float(alpha) == pytest.approx(shape, rel=0.04)
    assert float(left) == pytest.approx(beta_l, rel=0.03)
    assert float(right) == pytest.approx(beta_r, rel=0.03)


def test_aggd_fit_of_a_one_sided_block_is_nan_like_matlab() -> None:
    alpha, left, right, _ = aggd_fit(torch.tensor([[0.0, 1.0, 2.0, 0.5]], dtype=torch.float64))
    assert float(alpha) == pytest.approx(0.2) and np.isnan(float(left)) and float(right) > 0


def test_blur_and_noise_raise_niqe(load_city100: Callable[[str], np.ndarray]) -> None:
    image = load_city100("064H")
    clean = niqe(image)
    blurred = [niqe(cv2.GaussianBlur(image, (0, 0), sigma)) for sigma in (1.0, 2.0, 3.0)]
    noise = np.random.default_rng(0).normal(0, 12, image.shape)
    noisy = niqe(np.clip(image + noise, 0, 255).round().astype(np.uint8))
    assert clean < blurred[0] < blurred[1] < blurred[2]
    assert noisy > clean + 1.0


def test_batch_border_and_luma_options(load_city100: Callable[[str], np.ndarray]) -> None:
    image = load_city100("050H")
    other = np.ascontiguousarray(image[::-1, ::-1])
    batch = niqe(np.stack([image, other]), crop_border=4)
    np.testing.assert_allclose(batch, [niqe(image, crop_border=4), niqe(other, crop_border=4)])
    # The border crop moves the block grid, so it changes the value; so does the luma.
    assert niqe(image, crop_border=4) != niqe(image)
    assert niqe(image, convert_to="gray") != pytest.approx(niqe(image), abs=1e-6)
    # uint16 and float inputs give the uint8 result (luma rounded to integers first).
    assert niqe(image.astype(np.uint16) * 257) == pytest.approx(niqe(image), abs=1e-12)
    assert niqe(image / 255.0) == pytest.approx(niqe(image), abs=1e-12)


def test_torch_filter_path_matches_opencv() -> None:
    images = torch.from_numpy(np.random.default_rng(2).random((2, 50, 61)) * 255)
    np.testing.assert_allclose(
        filter_torch(images).numpy(), niqe_module._filter(images).numpy(), atol=1e-10
    )


def test_small_images_are_refused_with_their_size() -> None:
    image = np.zeros((100, 150, 3), np.uint8)
    with pytest.raises(InputError, match="150x100"):
        niqe(image)
    with pytest.raises(InputError, match="after a 4 px border crop"):
        niqe(np.zeros((100, 200, 3), np.uint8), crop_border=4)
