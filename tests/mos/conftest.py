"""MOS fixtures: tiny reference/method folders, built studies, running servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from mos_helpers import ServerProcess, make_scene, start_server, study_config

from rwsr.imageio import write_image
from rwsr.mos.build import build_study


@pytest.fixture
def study_dirs(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """Reference folder (3 images, RealSR-style names) and two method folders of outputs."""
    rng = np.random.default_rng(7)
    reference = tmp_path / "hr"
    sharp, blurry = tmp_path / "sharp", tmp_path / "blurry"
    for folder in (reference, sharp, blurry):
        folder.mkdir()
    for index in range(1, 4):
        scene = make_scene(rng)
        write_image(reference / f"Canon_00{index}_HR.png", scene)
        noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
        write_image(sharp / f"Canon_00{index}_SR.png", noisy)
        write_image(blurry / f"Canon_00{index}.png", (scene // 8 * 8).astype(np.uint8))
    return reference, {"Sharp": sharp, "Blurry": blurry}


@pytest.fixture
def make_study(tmp_path: Path, study_dirs: tuple[Path, dict[str, Path]]) -> Callable[..., Path]:
    """Build a study from `study_dirs` (6 patches of 16 px unless overridden); returns its path."""
    counter = iter(range(1000))

    def make(**options: object) -> Path:
        db = tmp_path / f"study{next(counter)}.sqlite"
        build_study(study_config(study_dirs, **options), db)
        return db

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerProcess]]:
    """Start servers for a test; all are killed at its end."""
    started: list[ServerProcess] = []

    def run(db: Path, *args: str) -> ServerProcess:
        server = start_server(db, *args)
        started.append(server)
        return server

    yield run
    for server in started:
        server.kill()
