"""Real image crops for the metric tests (City100 iPhone X, from ../shared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rwsr.imageio import read_image

CITY100 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "city100_iphonex_train"
)


def city100_image(name: str) -> np.ndarray:
    """City100 image NNN{L,H}.PNG as uint8 RGB; skips the test where ../shared is absent."""
    path = CITY100 / f"{name}.PNG"
    if not path.is_file():
        pytest.skip(f"{path} is not available (../shared is only on developer and CI machines)")
    return read_image(path)


@pytest.fixture(scope="session")
def load_city100() -> Callable[[str], np.ndarray]:
    """city100_image as a fixture, so tests need not import this conftest."""
    return city100_image


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A real LR/HR pair of City100 (x1), cropped to 200x240 to keep the tests fast."""
    lr, hr = city100_image("033L"), city100_image("033H")
    return np.ascontiguousarray(lr[150:350, 300:540]), np.ascontiguousarray(hr[150:350, 300:540])
