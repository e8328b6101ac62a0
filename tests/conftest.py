"""Shared test fixtures: where ../shared lives, small real images, CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CITY100 = SHARED / "datasets" / "city100_iphonex_train"
BSD100 = SHARED / "datasets" / "bsd100_hr"
NCNN = SHARED / "models" / "ncnn"

# Two pytest-xdist workers share two cores: one intra-op thread each avoids oversubscription.
torch.set_num_threads(1)


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path} is not available (../shared is only present on developer and CI machines)"
        )
    return path


@pytest.fixture
def city100() -> Path:
    return require(CITY100)


@pytest.fixture
def bsd100() -> Path:
    """100 clean BSD100 photos (481x321)."""
    return require(BSD100)


@pytest.fixture
def ngdc_sets(city100: Path, bsd100: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A small real-pair target (City100 pairs 021-026) and auxiliary set (eight BSD100
    photos, two of which match the iPhone's noise at 64 px windows, percentile 30)."""
    import shutil

    target, aux = tmp_path / "city100", tmp_path / "bsd100"
    target.mkdir()
    aux.mkdir()
    for number in range(21, 27):
        for side in "HL":
            shutil.copy(city100 / f"{number:03d}{side}.PNG", target)
    for number in (1, 4, 9, 13, 14, 15, 16, 26):
        shutil.copy(bsd100 / f"{number:03d}.png", aux)
    return target, aux


@pytest.fixture
def ncnn_models() -> Path:
    return require(NCNN)


@pytest.fixture
def photo_rgb(city100: Path) -> np.ndarray:
    """A 256x256 uint8 RGB crop of a real iPhone X photo (City100 HR 021)."""
    from rwsr.imageio import read_image

    image = read_image(city100 / "021H.PNG")
    return np.ascontiguousarray(image[200:456, 300:556])


@pytest.fixture(params=["file", "inside-a-file", "long-name", "read-only"])
def unusable_output(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An output folder no command can write, and what its one error line must say: a file
    where the folder should be (or above it), a name over 255 bytes, a read-only folder."""
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the output folder should be")
    if request.param == "file":
        yield blocker, f"{blocker} is a file, not a folder"
    elif request.param == "inside-a-file":
        yield blocker / "out", f"{blocker} is a file, not a folder"
    elif request.param == "long-name":
        yield tmp_path / ("n" * 300), "is 300 bytes; a file name holds at most 255"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        try:
            if os.access(locked, os.W_OK):  # root (with CAP_DAC_OVERRIDE) writes anyway
                pytest.skip("running as root: chmod does not make a folder read-only")
            yield locked / "out", f"{locked} is not writable"
        finally:
            locked.chmod(0o755)
