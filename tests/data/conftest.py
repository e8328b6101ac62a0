"""Fixtures of the data-pipeline tests (helpers live in noise_images.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from noise_images import noisy_image

from rwsr.imageio import write_image


@pytest.fixture
def noisy_folder(tmp_path: Path) -> Callable[..., Path]:
    """make(name, sigmas, first_seed=0) -> folder with one PNG per sigma."""

    def make(name: str, sigmas: list[float], first_seed: int = 0) -> Path:
        folder = tmp_path / name
        for offset, sigma in enumerate(sigmas):
            seed = first_seed + offset
            write_image(folder / f"{name}_{seed:03d}_s{sigma:g}.png", noisy_image(seed, sigma))
        return folder

    return make
