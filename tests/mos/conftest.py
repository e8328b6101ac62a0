"""MOS fixtures: tiny reference/method folders, built studies, running servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mos_helpers import ServerProcess, start_server, study_config, write_study_dirs

from rwsr.mos.build import build_study


@pytest.fixture
def study_dirs(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    return write_study_dirs(tmp_path)


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
