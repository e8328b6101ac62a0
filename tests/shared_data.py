"""Where the tests' real data lives: small crops in the repository, the full sets in ../shared.

tests/fixtures/ (README there) holds what most tests need and travels with every clone.
../shared holds the full City100 and BSD100 sets and the ncnn models, on developer and CI
machines only; RWSR_SHARED=DIR looks for it in DIR instead (RWSR_SHARED=/nonexistent runs
the suite as a fresh clone does).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CITY100_CROPS = FIXTURES / "city100"
# Two small trained x1 CameraSR models, retired from the zoo (tests/fixtures/README.md):
# pass str(path) where a zoo name would go.
RWSR_EDL_X1 = FIXTURES / "models" / "rwsr-edl-camerasr-x1.safetensors"  # 2 RRDBs + EDL head
RRDB_L1_X1 = FIXTURES / "models" / "rrdb-l1-camerasr-x1.safetensors"  # 2 RRDBs, L1-trained
# Upscayl's ncnn build of realesr-general-x4v3 (BSD-3-Clause weights), bytes as published:
# the .param keeps its CRLF line endings (.gitattributes).
COMPACT_NCNN = FIXTURES / "ncnn" / "realesr_general_x4v3"
SHARED = Path(os.environ.get("RWSR_SHARED", REPO.parent / "shared"))


def require(path: Path) -> Path:
    """`path` (under ../shared) if it exists. Otherwise the test skips, or on CI (CI=true)
    fails: CI has ../shared, so a missing one there would hide tests that never ran."""
    if path.exists():
        return path
    message = f"{path} is not available (../shared is only on developer and CI machines)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)
