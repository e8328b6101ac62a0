"""Validation during training: the tiled upscaler on a held-out set, then the paper's metrics.

The metrics are `rwsr evaluate`'s (its Scorer, rwsr.eval.scorer), so a validation score and
an evaluation of the same weights on the same pairs are the same number: PSNR and SSIM on
RGB, 0-255, border crop validation.crop_border (4, as the reported tables); LPIPS AlexNet
v0.1 on [-1, 1] inputs, same border crop; each the mean over the images.

Everything validation needs (the pairs, the LPIPS backbone) is opened when the Validator is
made, before the first training step, so a missing file stops a run at once, not hours in.

For the eye, the first validation.images pairs also give the same centred crop of LR, SR and
HR at every validation (rwsr.train.progress saves them and the page that shows them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rwsr.data.datasets import load_pairs
from rwsr.eval.regions import Box
from rwsr.eval.scorer import MetricSettings, Scorer
from rwsr.imageio import read_image
from rwsr.train.config import ValidationConfig
from rwsr.upscale.engine import Upscaler

# How `rwsr train` names a local AlexNet file, and how a run does without LPIPS.
LPIPS_OPTIONS = ("validation.lpips_backbone=PATH", ", or train without it: validation.lpips=false")
# The training log's names of the Scorer's values (validation scores RGB only).
LOG_NAMES = {"psnr_rgb": "psnr", "ssim_rgb": "ssim", "lpips": "lpips"}


@dataclass(frozen=True)
class Crops:
    """One validation pair's centred square, the same in every validation: LR enlarged by
    nearest neighbour to the output's size (as is at x1), the validated model's SR, and HR."""

    name: str
    lr: np.ndarray
    sr: np.ndarray
    hr: np.ndarray


def centred_crops(name: str, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, side: int) -> Crops:
    """The centred square of `side` (or of the output's shorter side) of each image."""
    height, width = sr.shape[:2]
    size = min(side, height, width)
    box = Box(x=(width - size) // 2, y=(height - size) // 2, size=size)
    factor = height // lr.shape[0]  # the model's scale
    lr_enlarged = np.repeat(np.repeat(lr, factor, axis=0), factor, axis=1)
    return Crops(name=name, lr=box.cut(lr_enlarged), sr=box.cut(sr), hr=box.cut(hr))


@dataclass(frozen=True)
class Validation:
    """Mean scores over the validation pairs, and the crops of the first validation.images."""

    scores: dict[str, float]
    crops: list[Crops]


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
        settings = MetricSettings(
            scale=self.pairs[0].scale,
            crop_border=config.crop_border,
            metrics=("psnr", "ssim", "lpips") if config.lpips else ("psnr", "ssim"),
            channels=("rgb",),
            lpips_net="alex",
            lpips_backbone=config.lpips_backbone,
            device=str(device),
        )
        self.scorer = Scorer(settings, lpips_options=LPIPS_OPTIONS)

    def __call__(self, generator: nn.Module) -> Validation:
        """Mean PSNR/SSIM (and LPIPS) of `generator` (a copy: it is moved and frozen), and
        its crops."""
        # fp32: the scores (and the choice of best.pt) describe the trained weights, not bf16.
        upscaler = Upscaler(
            generator, device=str(self.device), precision="fp32", tile=self.config.tile
        )
        scores: dict[str, list[float]] = {}
        crops = []
        for index, pair in enumerate(self.pairs):
            lr = read_image(pair.lr)
            sr = upscaler.upscale(lr)
            hr = read_image(pair.hr)
            if index < self.config.images:
                crops.append(centred_crops(pair.name, lr, sr, hr, self.config.image_crop))
            for key, value in self.scorer.score(sr, hr).items():
                scores.setdefault(LOG_NAMES[key], []).append(value)
        means = {name: float(np.mean(values)) for name, values in scores.items()}
        return Validation(scores=means, crops=crops)
