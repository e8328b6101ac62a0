"""NIQE (Mittal, Soundararajan, Bovik 2013), consistent with the authors' MATLAB release.

What MATLAB's niqe.m / computequality.m does, and so this module:
1. Luma as MATLAB sees a uint8 image: Y (BT.601, 16-235, BasicSR's default and its MATLAB
   reference) or rgb2gray, rounded to integers (half away from zero); float64 from here on.
2. Border crop, then crop to whole 96x96 blocks from the top-left corner.
3. At two scales (full, then MATLAB bicubic imresize by 0.5 with antialiasing):
   mu = image filtered by fspecial('gaussian', 7, 7/6) with replicated borders, sigma =
   sqrt(|filtered(image^2) - mu^2|), MSCN = (image - mu) / (sigma + 1).
4. Per block (96x96, then 48x48) 18 features: an asymmetric generalised Gaussian fit (AGGD,
   moment matching on the grid alpha = 0.2:0.001:10) of the MSCN block and of its products
   with the block shifted by (0,1), (1,0), (1,1), (1,-1) (circular, like circshift).
5. NIQE = sqrt((mu_p - mu)' pinv((S_p + S) / 2) (mu_p - mu)) between the pristine model
   (mu_p, S_p; package data from BasicSR) and the image's features (NaN-aware mean,
   covariance over the NaN-free blocks, as nanmean/nancov). Lower is better.

Vectorised over all blocks of a batch; float64 on any torch device (OpenCV filters on CPU).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import cv2
import numpy as np
import torch
from scipy.special import gamma  # type: ignore[import-untyped]
from torch.nn import functional as F

from rwsr.data.imresize import imresize
from rwsr.errors import InputError
from rwsr.metrics.color import (
    check_rgb,
    crop_border,
    rgb_to_gray,
    rgb_to_y,
    rgb_to_y_uint8,
    round_like_uint8,
    to_float255,
)

Luma = Literal["y", "gray"]
LUMAS: tuple[Luma, ...] = ("y", "gray")
BLOCK = 96
WINDOW_SIZE, WINDOW_SIGMA = 7, 7.0 / 6.0
# MATLAB's 0.2:0.001:10 (9801 shape values) and the AGGD functions of the shape on it.
ALPHAS = 0.2 + 0.001 * np.arange(9801)
RATIO = gamma(2.0 / ALPHAS) ** 2 / (gamma(1.0 / ALPHAS) * gamma(3.0 / ALPHAS))
BETA_FACTOR = np.sqrt(gamma(1.0 / ALPHAS) / gamma(3.0 / ALPHAS))
MEAN_FACTOR = gamma(2.0 / ALPHAS) / gamma(1.0 / ALPHAS)
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
FLAT = 1e-6  # grey levels (0-255 scale); see mscn
# Why a NIQE is NaN: flat, black or saturated areas have no contrast, so their AGGD fits are
# NaN, and the covariance needs two blocks with finite features.
UNDEFINED = (
    f"NIQE undefined: the image is flat (fewer than two {BLOCK}x{BLOCK} blocks with finite "
    "features)"
)


@functools.cache
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mu 36, covariance 36x36) of the NIQE pristine model shipped with rwsr."""
    path = resources.files("rwsr.metrics").joinpath("data/niqe_pris_params.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        return data["mu_pris_param"].reshape(36), data["cov_pris_param"]


@functools.cache
def gaussian_taps() -> np.ndarray:
    """1-D taps of fspecial('gaussian', 7, 7/6): the 2-D window is their outer product."""
    x = np.arange(WINDOW_SIZE, dtype=np.float64) - WINDOW_SIZE // 2
    taps = np.exp(-(x**2) / (2.0 * WINDOW_SIGMA**2))
    return taps / taps.sum()


def luma(image: np.ndarray, *, convert_to: Luma = "y", border: int = 0) -> np.ndarray:
    """HxWx3 (or NxHxWx3) RGB -> cropped, integer-valued float64 luma (..., H, W)."""
    check_rgb(image, what="NIQE input")
    if convert_to not in LUMAS:
        raise InputError(f"NIQE luma must be one of {', '.join(LUMAS)}, but got {convert_to!r}")
    if convert_to == "y" and image.dtype == np.uint8:
        return rgb_to_y_uint8(crop_border(image, border))[..., 0]
    values = crop_border(to_float255(image), border)
    converted = rgb_to_y(values) if convert_to == "y" else rgb_to_gray(values)
    return round_like_uint8(converted[..., 0])


def _filter(images: torch.Tensor) -> torch.Tensor:
    """MATLAB imfilter(image, window, 'replicate') of every (H, W) image of (N, H, W)."""
    if images.device.type == "cpu":
        taps = gaussian_taps()
        out = [
            cv2.sepFilter2D(im, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_REPLICATE)
            for im in images.numpy()
        ]
        return torch.from_numpy(np.stack(out))
    return filter_torch(images)


def filter_torch(images: torch.Tensor) -> torch.Tensor:
    """The same on any torch device (the CPU path uses OpenCV, 10x faster there)."""
    kernel = torch.from_numpy(gaussian_taps()).to(images)
    pad = WINDOW_SIZE // 2
    padded = F.pad(images[:, None], (pad, pad, pad, pad), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, -1, 1))
    return F.conv2d(out, kernel.view(1, 1, 1, -1))[:, 0]


def mscn(images: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients of (N, H, W) float64 images.

    In flat regions image - mu is 0 in exact arithmetic but +-1e-13 in floating point, and
    its sign decides which AGGD side a sample joins (enough to move alpha by a grid step), so
    differences below FLAT grey levels are set to exactly 0: results then do not depend on
    the filter implementation or the device.
    """
    mu = _filter(images)
    sigma = torch.sqrt(torch.abs(_filter(images * images) - mu * mu))
    centred = images - mu
    centred = torch.where(centred.abs() < FLAT, torch.zeros_like(centred), centred)
    return centred / (sigma + 1.0)


def aggd_fit(
    samples: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """AGGD (alpha, beta_left, beta_right, grid index) of each row of (M, P), MATLAB grid search.

    A row without negative or positive values has NaN betas and alpha 0.2 (MATLAB's min
    over an all-NaN vector returns index 1). RATIO increases with alpha, so the grid point
    nearest to rhatnorm is found by binary search (the same point as argmin of the squared
    difference, first one on a tie).
    """
    # Squares of the negative (positive) samples only; zeros count on neither side.
    left = torch.sqrt(samples.clamp(max=0).square().sum(1) / (samples < 0).sum(1))
    right = torch.sqrt(samples.clamp(min=0).square().sum(1) / (samples > 0).sum(1))
    ratio = left / right
    rhat = samples.abs().mean(1) ** 2 / samples.square().mean(1)
    rhatnorm = rhat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    table = torch.from_numpy(RATIO).to(samples)
    upper = torch.searchsorted(table, rhatnorm.nan_to_num(0.0)).clamp(1, len(RATIO) - 1)
    lower = upper - 1
    closer_upper = (table[upper] - rhatnorm) ** 2 < (table[lower] - rhatnorm) ** 2
    index = torch.where(closer_upper, upper, lower)
    index = torch.where(torch.isnan(rhatnorm), torch.zeros_like(index), index)
    alpha = torch.from_numpy(ALPHAS).to(samples)[index]
    factor = torch.from_numpy(BETA_FACTOR).to(samples)[index]
    return alpha, left * factor, right * factor, index


def block_features(blocks: torch.Tensor) -> torch.Tensor:
    """The 18 NIQE features of each MSCN block of (B, h, w): (B, 18)."""
    b = blocks.shape[0]
    flat = [blocks.reshape(b, -1)]
    for shift in SHIFTS:
        flat.append((blocks * torch.roll(blocks, shifts=shift, dims=(1, 2))).reshape(b, -1))
    alpha, beta_l, beta_r, index = aggd_fit(torch.cat(flat))
    alpha, beta_l, beta_r, index = (v.view(5, b) for v in (alpha, beta_l, beta_r, index))
    mean = (beta_r - beta_l) * torch.from_numpy(MEAN_FACTOR).to(blocks)[index]
    features = [alpha[0], (beta_l[0] + beta_r[0]) / 2]
    for k in range(1, 5):
        features += [alpha[k], mean[k], beta_l[k], beta_r[k]]
    return torch.stack(features, dim=1)


def _blocks(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W) with H, W multiples of size -> (N, blocks, size, size)."""
    n, h, w = images.shape
    tiles = images.reshape(n, h // size, size, w // size, size).permute(0, 1, 3, 2, 4)
    return tiles.reshape(n, -1, size, size)


def niqe_features(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) luma, H and W multiples of 96 -> (N, blocks, 36) features of both scales."""
    n = images.shape[0]
    scales = []
    for size in (BLOCK, BLOCK // 2):
        blocks = _blocks(mscn(images), size)
        count = blocks.shape[1]
        scales.append(block_features(blocks.reshape(n * count, size, size)).view(n, count, 18))
        if size == BLOCK:
            images = imresize(images, 0.5)
    return torch.cat(scales, dim=2)


def niqe_distance(features: np.ndarray) -> float:
    """NIQE of one image's (blocks, 36) features against the pristine model."""
    mu_pristine, cov_pristine = pristine_model()
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:  # UNDEFINED; checked first, as nanmean warns on all-NaN columns
        return float("nan")
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    inverse = torch.linalg.pinv(torch.from_numpy((cov_pristine + cov) / 2)).numpy()
    diff = mu_pristine - mu
    return float(np.sqrt(diff @ inverse @ diff))


def niqe(
    image: np.ndarray,
    *,
    crop_border: int = 0,
    convert_to: Luma = "y",
    device: str | torch.device = "cpu",
) -> float | np.ndarray:
    """NIQE of an HxWx3 RGB image (float) or an NxHxWx3 batch (array of N); lower is better.

    The image needs at least two 96x96 blocks after the border crop (InputError otherwise);
    the result is NaN when fewer than two blocks have finite features (a flat image; the
    reason to report is `UNDEFINED`).
    """
    values = luma(image, convert_to=convert_to, border=crop_border)
    batched = values.ndim == 3
    values = values if batched else values[None]
    height, width = values.shape[1:]
    rows, cols = height // BLOCK, width // BLOCK
    if rows * cols < 2:
        raise InputError(
            f"NIQE needs at least two {BLOCK}x{BLOCK} blocks, but the image is {width}x{height}"
            + (f" after a {crop_border} px border crop" if crop_border else "")
        )
    cropped = np.ascontiguousarray(values[:, : rows * BLOCK, : cols * BLOCK])
    features = niqe_features(torch.from_numpy(cropped).to(device)).cpu().numpy()
    result = np.array([niqe_distance(f) for f in features])
    return result if batched else float(result[0])
