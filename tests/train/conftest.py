from __future__ import annotations

from pathlib import Path

import pytest

from rwsr.train.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_cpu.yaml"


@pytest.fixture
def tiny_config(city100_crops: Path, tmp_path: Path):
    """The tiny CPU preset pointed at the City100 crops of tests/fixtures, writing into
    tmp_path."""

    def make(*overrides: str) -> TrainConfig:
        return load_config(
            TINY,
            [f"data.sources.0.root={city100_crops}", f"output_dir={tmp_path / 'runs'}", *overrides],
        )

    return make
