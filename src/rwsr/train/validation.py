"""Validation during training: the tiled upscaler on a held-out set, then the paper's metrics.

Conventions: PSNR and SSIM on RGB, 0-255, border crop validation.crop_border (4, as the
reported tables), mean over images; LPIPS AlexNet v0.1 on [-1, 1] inputs, same border crop,
mean over images.

Everything validation needs (the pairs, the LPIPS backbone) is opened when the Validator is
made, before the first training step, so a missing file stops a run at once, not hours in.
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

# How `rwsr train` names a local AlexNet file, and how a run does without LPIPS.
LPIPS_OPTIONS = ("validation.lpips_backbone=PATH", ", or train without it: validation.lpips=false")


class Validator:
    """Scores generators on the validation pairs of `config` (whose root must be set)."""

    def __init__(self, config: ValidationConfig, *, device: torch.device) -> None:
        if config.root is None:
            raise ValueError("Expected validation.root, but got None")
        pairs = load_pairs(
            config.root, layout=config.layout, split=config.split, scale=config.scale
        )
        self.pairs = pairs[: config.max_images] if config.max_images else pairs
        self.config = config
        self.device = device
        self.lpips = None
        if config.lpips:
            from rwsr.metrics.lpips import LPIPS  # imports torchvision's models: only when used

            self.lpips = LPIPS(backbone=config.lpips_backbone, device=device, options=LPIPS_OPTIONS)

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        """Mean PSNR/SSIM (and LPIPS) of `generator` (a copy: it is moved and frozen)."""
        # fp32: the scores (and the choice of best.pt) describe the trained weights, not bf16.
        upscaler = Upscaler(
            generator, device=str(self.device), precision="fp32", tile=self.config.tile
        )
        scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "lpips": []}
        for pair in self.pairs:
            sr = upscaler.upscale(read_image(pair.lr))
            hr = read_image(pair.hr)
            scores["psnr"].append(float(psnr(sr, hr, crop_border=self.config.crop_border)))
            scores["ssim"].append(float(ssim(sr, hr, crop_border=self.config.crop_border)))
            if self.lpips is not None:
                scores["lpips"].append(
                    float(self.lpips(sr, hr, crop_border=self.config.crop_border))
                )
        return {name: float(np.mean(values)) for name, values in scores.items() if values}
