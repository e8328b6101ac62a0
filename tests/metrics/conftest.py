"""Real image crops for the metric tests (City100 iPhone X, tests/fixtures)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from shared_data import CITY100_CROPS

from rwsr.imageio import read_image


def city100_image(name: str) -> np.ndarray:
    """City100 crop NNN{L,H}.PNG of tests/fixtures as uint8 RGB."""
    return read_image(CITY100_CROPS / f"{name}.PNG")


@pytest.fixture(scope="session")
def load_city100() -> Callable[[str], np.ndarray]:
    """city100_image as a fixture, so tests need not import this conftest."""
    return city100_image


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A real LR/HR pair of City100 (x1), cropped to 200x240 to keep the tests fast."""
    lr, hr = city100_image("033L"), city100_image("033H")
    return np.ascontiguousarray(lr[:200, :240]), np.ascontiguousarray(hr[:200, :240])
