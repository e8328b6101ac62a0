"""Synthetic images with known noise for the data-pipeline tests.

Layout of every image (side 256, windows of 32): three flat quadrants at known RGB levels and
one strongly textured quadrant (bottom right), plus i.i.d. Gaussian noise of a chosen sigma
per channel, rounded to uint8. Flat windows then have a luma variance of about
sigma^2 * (0.299^2 + 0.587^2 + 0.114^2) = 0.4459 sigma^2; textured windows are far above.
"""

from __future__ import annotations

import numpy as np

SIDE = 256
LEVELS = {"top_left": (70, 75, 65), "top_right": (150, 155, 145), "bottom_left": (110, 115, 105)}
LUMA_NOISE_GAIN = 0.299**2 + 0.587**2 + 0.114**2


def clean_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    half = SIDE // 2
    image = np.zeros((SIDE, SIDE, 3), dtype=np.float64)
    image[:half, :half] = LEVELS["top_left"]
    image[:half, half:] = LEVELS["top_right"]
    image[half:, :half] = LEVELS["bottom_left"]
    texture = rng.integers(40, 215, size=(half // 4, half // 4, 3)).repeat(4, 0).repeat(4, 1)
    image[half:, half:] = texture
    return image


def noisy_image(seed: int, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(seed + 10_000)
    noisy = clean_image(seed) + rng.normal(0.0, sigma, size=(SIDE, SIDE, 3))
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def in_flat_quadrant(y: int, x: int, patch: int) -> bool:
    half = SIDE // 2
    return not (y + patch > half and x + patch > half)
