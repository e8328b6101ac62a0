"""Small real test sets for `rwsr evaluate`, cut from City100 iPhone X pairs (tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from shared_data import CITY100_CROPS

from rwsr.data.imresize import imresize
from rwsr.imageio import read_image, write_image
from rwsr.models.checkpoint import save_model
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

NAMES = ("021", "033", "064")
# HR crops: 2x3 NIQE blocks after a 1-4 px border crop, and divisible by 4 for the x4 set.
CROP = (slice(0, 196), slice(0, 292))


def _city100(name: str) -> np.ndarray:
    return np.ascontiguousarray(read_image(CITY100_CROPS / f"{name}.PNG")[CROP])


@pytest.fixture(scope="session")
def x1_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hr/NNN.png, lr/NNN.png (real LR of the same size), smooth/NNN_x1.png (LR blurred,
    one image missing), bad/ (one image of the wrong size), sixteen/ (LR as 16-bit PNG)."""
    root = tmp_path_factory.mktemp("x1")
    for name in NAMES:
        hr, lr = _city100(f"{name}H"), _city100(f"{name}L")
        write_image(root / "hr" / f"{name}.png", hr)
        write_image(root / "lr" / f"{name}.png", lr)
        if name != NAMES[-1]:
            write_image(root / "smooth" / f"{name}_x1.png", cv2.GaussianBlur(lr, (0, 0), 1.2))
        image = lr[:-8] if name == NAMES[0] else lr
        write_image(root / "bad" / f"{name}.png", image)
        write_image(root / "sixteen" / f"{name}.png", lr.astype(np.uint16) * 257)
    return root


@pytest.fixture(scope="session")
def x4_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `paired` data set (HR/ + LR/, LR = MATLAB bicubic HR / 4) and a tiny x4 model."""
    root = tmp_path_factory.mktemp("x4")
    for name in NAMES:
        hr = _city100(f"{name}H")
        write_image(root / "HR" / f"{name}.png", hr)
        write_image(root / "LR" / f"{name}.png", imresize(hr, 0.25))
    torch.manual_seed(0)
    save_model(RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4)).eval(), root / "tiny.safetensors")
    return root
