"""PSNR and SSIM, MATLAB/BasicSR-consistent (see `rwsr.metrics.color` for the conventions).

- PSNR = 10 log10(255^2 / MSE) on float64 0-255 values, MSE over all pixels and channels of
  one image; a data set's PSNR is the mean of per-image values (as BasicSR and the paper).
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255, means
  over the valid region only (no padding); an RGB image's SSIM is the mean over its channels.

Both take HxWx3 images or NxHxWx3 batches (uint8/uint16/float [0, 1]) and return a float or an
array of N floats. SSIM runs in float64: OpenCV filters on the CPU, depthwise convolutions on other torch
devices.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from rwsr.errors import InputError
from rwsr.metrics.color import Channels, prepare

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
PEAK = 255.0


def _pair(
    sr: np.ndarray, hr: np.ndarray, *, channels: Channels, crop_border: int
) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != hr.shape:
        raise InputError(f"SR has shape {sr.shape} but HR has shape {hr.shape}; they must match")
    return (
        prepare(sr, channels=channels, border=crop_border, what="SR"),
        prepare(hr, channels=channels, border=crop_border, what="HR"),
    )


def _result(values: np.ndarray, batched: bool) -> float | np.ndarray:
    return values if batched else float(values[0])


def psnr(
    sr: np.ndarray, hr: np.ndarray, *, crop_border: int = 0, channels: Channels = "rgb"
) -> float | np.ndarray:
    """PSNR in dB (inf for identical images)."""
    x, y = _pair(sr, hr, channels=channels, crop_border=crop_border)
    batched = x.ndim == 4
    rows = x.shape[0] if batched else 1
    x, y = x.reshape(rows, -1), y.reshape(rows, -1)
    mse = np.mean((x - y) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(PEAK**2 / mse)
    return _result(values, batched)


@functools.cache
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D normalised Gaussian taps; the 2-D window is their outer product (separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(x**2) / (2.0 * sigma**2))
    taps.flags.writeable = False
    return taps / taps.sum()


def _blur_valid_cpu(maps: np.ndarray) -> np.ndarray:
    """Gaussian-filter each (H, W) map of (K, H, W), keeping the valid region (OpenCV, float64;
    40x faster than a float64 torch convolution on the CPU)."""
    taps = gaussian_window()
    r = SSIM_WINDOW // 2
    out = [cv2.sepFilter2D(m, cv2.CV_64F, taps, taps)[r:-r, r:-r] for m in maps]
    return np.stack(out)


def _blur_valid_torch(maps: torch.Tensor) -> torch.Tensor:
    """The same on any torch device: two depthwise 1-D convolutions without padding."""
    taps = torch.from_numpy(gaussian_window()).to(maps)
    out = F.conv2d(maps[:, None], taps.view(1, 1, -1, 1))
    return F.conv2d(out, taps.view(1, 1, 1, -1))[:, 0]


def ssim_per_channel(
    x: np.ndarray, y: np.ndarray, *, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Mean SSIM over the valid region of each channel: (N, H, W, C) float64 -> (N, C)."""
    n, h, w, c = x.shape
    if min(h, w) < SSIM_WINDOW:
        raise InputError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border crop,"
            f" but the image is {w}x{h}"
        )
    # The five local statistics of every channel go through one filter pass: (5, N, C, H, W).
    planes = np.stack([x, y, x * x, y * y, x * y]).transpose(0, 1, 4, 2, 3)
    maps = planes.reshape(5 * n * c, h, w)
    if torch.device(device).type == "cpu":
        blurred = _blur_valid_cpu(maps)
    else:
        blurred = _blur_valid_torch(torch.from_numpy(maps).to(device)).cpu().numpy()
    mu_x, mu_y, xx, yy, xy = blurred.reshape(5, n, c, *blurred.shape[1:])
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean(axis=(2, 3))


def ssim(
    sr: np.ndarray,
    hr: np.ndarray,
    *,
    crop_border: int = 0,
    channels: Channels = "rgb",
    device: str | torch.device = "cpu",
) -> float | np.ndarray:
    """SSIM in [-1, 1] (1 for identical images)."""
    x, y = _pair(sr, hr, channels=channels, crop_border=crop_border)
    batched = x.ndim == 4
    if not batched:
        x, y = x[None], y[None]
    values = ssim_per_channel(x, y, device=device).mean(axis=1)
    return _result(values, batched)
