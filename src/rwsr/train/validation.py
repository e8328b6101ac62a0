"""Validation during training: the tiled upscaler on a held-out set, then the paper's metrics.

Conventions: PSNR and SSIM on RGB, 0-255, border crop = scale, mean over images; LPIPS
AlexNet v0.1 on [-1, 1] inputs, same border crop, mean over images.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rwsr.data.datasets import load_pairs
from rwsr.imageio import read_image
from rwsr.metrics.psnr_ssim import psnr, ssim
from rwsr.train.config import ValidationConfig
from rwsr.upscale.engine import Upscaler


def validate(
    generator: nn.Module, config: ValidationConfig, *, device: torch.device
) -> dict[str, float]:
    """Mean PSNR/SSIM (and LPIPS if enabled) of `generator` (a copy: it is moved and frozen)."""
    assert config.root is not None
    pairs = load_pairs(config.root, layout=config.layout, split=config.split, scale=config.scale)
    pairs = pairs[: config.max_images] if config.max_images else pairs
    # fp32: the scores (and the choice of best.pt) describe the trained weights, not bf16.
    upscaler = Upscaler(generator, device=str(device), precision="fp32", tile=config.tile)
    lpips_metric = None
    if config.lpips:
        from rwsr.metrics.lpips import LPIPS

        lpips_metric = LPIPS(backbone=config.lpips_backbone, device=device)
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "lpips": []}
    for pair in pairs:
        sr = upscaler.upscale(read_image(pair.lr))
        hr = read_image(pair.hr)
        scores["psnr"].append(float(psnr(sr, hr, crop_border=pair.scale)))
        scores["ssim"].append(float(ssim(sr, hr, crop_border=pair.scale)))
        if lpips_metric is not None:
            scores["lpips"].append(float(lpips_metric(sr, hr, crop_border=pair.scale)))
    return {name: float(np.mean(values)) for name, values in scores.items() if values}
