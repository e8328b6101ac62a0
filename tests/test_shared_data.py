"""A test that needs ../shared skips where it is absent, and fails on CI, which has it."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data import require


def test_a_present_path_is_returned(tmp_path: Path) -> None:
    assert require(tmp_path) == tmp_path


def test_a_missing_path_skips_off_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing is not available"):
        require(tmp_path / "missing")


def test_a_missing_path_fails_on_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing is not available.*CI=true"):
        require(tmp_path / "missing")
