"""Shared test fixtures: real images (repository crops, or ../shared), CLI output checks.

Real data comes from tests/fixtures/ (small City100 crops, and two small trained models whose
paths shared_data.py names; in every clone) unless a test needs the full sets or the ncnn
models of ../shared (shared_data.py says where it is looked for; RWSR_SHARED=/nonexistent
runs the suite as a fresh clone does). The fixtures that reach into ../shared mark their tests
`needs_shared` (`pytest -m needs_shared` lists them); such a test skips where ../shared is
absent, and fails instead on CI (CI=true), which has it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_data import CITY100_CROPS, SHARED, require

SHARED_FIXTURES = frozenset({"city100", "ncnn_models"})  # the fixtures that read ../shared

# Two pytest-xdist workers share two cores: one intra-op thread each avoids oversubscription.
torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a ../shared fixture, so `-m needs_shared` lists them all
    (other files' tests included) without a marker to forget."""
    for item in items:
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_shared)


@pytest.fixture
def city100_crops() -> Path:
    """Real City100 iPhone X pairs cropped small (tests/fixtures/README.md): 021-023, 033, 050
    and 064 (split fit) and 091 (split val)."""
    return CITY100_CROPS


@pytest.fixture
def city100() -> Path:
    """The full City100 iPhone X pairs 021-100 in ../shared (840x600): only for numbers
    measured on whole photos; city100_crops serves every other test."""
    return require(SHARED / "datasets" / "city100_iphonex_train")


@pytest.fixture
def ncnn_models() -> Path:
    """The ncnn model files in ../shared/models/ncnn (not redistributable as fixtures)."""
    return require(SHARED / "models" / "ncnn")


@pytest.fixture
def ngdc_sets(city100_crops: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A small real-pair target (City100 pairs 021-023) and an auxiliary set (the HR photos
    033, 050, 064 and 091 as NNN.png; 050 and 064 match the target's noise at 32 px windows,
    percentile 40)."""
    target, aux = tmp_path / "city100", tmp_path / "aux"
    target.mkdir()
    aux.mkdir()
    for number in ("021", "022", "023"):
        for side in "HL":
            shutil.copy(city100_crops / f"{number}{side}.PNG", target)
    for number in ("033", "050", "064", "091"):
        shutil.copy(city100_crops / f"{number}H.PNG", aux / f"{number}.png")
    return target, aux


@pytest.fixture
def photo_rgb(city100_crops: Path) -> np.ndarray:
    """A 256x256 uint8 RGB crop of a real iPhone X photo (City100 HR 021)."""
    from rwsr.imageio import read_image

    return np.ascontiguousarray(read_image(city100_crops / "021H.PNG")[:, :256])


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
