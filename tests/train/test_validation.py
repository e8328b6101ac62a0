"""Training's validation and `rwsr evaluate` score one concept (PSNR/SSIM/LPIPS of SR against
HR, border crop): on the same images, the validator's numbers are the evaluation's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rwsr.eval.methods import ModelMethod
from rwsr.eval.runner import evaluate
from rwsr.eval.samples import samples_from_dataset
from rwsr.eval.scorer import settings_from_options
from rwsr.imageio import read_image, write_image
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.train.config import ValidationConfig
from rwsr.train.validation import Validator
from rwsr.upscale.engine import Upscaler


@pytest.fixture
def x1_pairs(city100_crops: Path, tmp_path: Path) -> Path:
    """Three real x1 pairs (City100 iPhone X LR/HR crops, 300x256) in the `paired` layout."""
    root = tmp_path / "pairs"
    for number in ("021", "033", "064"):
        write_image(root / "LR" / f"{number}.png", read_image(city100_crops / f"{number}L.PNG"))
        write_image(root / "HR" / f"{number}.png", read_image(city100_crops / f"{number}H.PNG"))
    return root


def test_validation_scores_are_the_scores_of_rwsr_evaluate(x1_pairs: Path) -> None:
    torch.manual_seed(0)
    generator = RRDBNet(RRDBNetConfig(scale=1, nf=8, nb=1, gc=4)).eval()
    validator = Validator(
        ValidationConfig(layout="paired", root=x1_pairs, scale=1, lpips_backbone="random"),
        device=torch.device("cpu"),
    )
    validated = validator(generator).scores

    # rwsr evaluate --dataset paired --root PAIRS --scale 1 --crop-border 4 --model G
    #   --metrics psnr,ssim,lpips --lpips-backbone random
    samples, scale, problems, _ = samples_from_dataset("paired", x1_pairs, split=None, scale=1)
    settings = settings_from_options(
        scale=scale, crop_border=4, metrics=("psnr", "ssim", "lpips"), lpips_backbone="random"
    )
    method = ModelMethod("G", Upscaler(generator, device="cpu", precision="fp32"))
    evaluation = evaluate(samples, [method], settings, progress=False)
    assert not problems and evaluation.complete

    evaluated = {
        name: float(np.mean(evaluation.values("G", key)))
        for name, key in (("psnr", "psnr_rgb"), ("ssim", "ssim_rgb"), ("lpips", "lpips"))
    }
    assert validated == evaluated
    assert np.isfinite(validated["psnr"])  # SR is not HR: the metrics have something to measure
