"""`rwsr mos serve`: building or reopening a study, refusals, and surviving a kill."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from mos_helpers import ServerProcess
from pydantic import ValidationError
from typer.testing import CliRunner

from rwsr.cli.mos import app, study_config
from rwsr.mos.config import StudyConfig

TIMEOUT = 30


def serve_args(db: Path, dirs: tuple[Path, dict[str, Path]], *extra: str) -> list[str]:
    reference, methods = dirs
    args = ["--ref", str(reference)]
    for name, folder in methods.items():
        args += ["--method", f"{name}={folder}"]
    return [*args, "--patches", "4", "--patch-size", "16", *extra]


def test_killed_server_resumes_where_the_rater_left_off(
    tmp_path: Path, study_dirs, serve: Callable[..., ServerProcess]
) -> None:
    db = tmp_path / "study.sqlite"
    first = serve(db, *serve_args(db, study_dirs))
    assert any("2 methods, 4 patches, 8 trials per rater" in line for line in first.output)
    rater = requests.Session()
    state = rater.post(first.url + "api/session", json={}, timeout=TIMEOUT).json()
    for position, score in enumerate((3, 0, 5)):
        response = rater.post(
            f"{first.url}api/trials/{position}/rating", json={"score": score}, timeout=TIMEOUT
        )
        assert response.status_code == 200
    upcoming = rater.get(f"{first.url}api/trials/3/result.png", timeout=TIMEOUT).content
    first.kill()  # SIGKILL right after the third answer: no shutdown, no checkpoint
    assert Path(f"{db}-wal").exists()  # the answers are (still) in the write-ahead log

    second = serve(db, *serve_args(db, study_dirs))  # the same command line again resumes
    again = rater.get(second.url + "api/session", timeout=TIMEOUT).json()
    assert again["rater"] == state["rater"]
    assert (again["done"], again["total"], again["next"]) == (3, 8, 3)
    assert rater.get(f"{second.url}api/trials/3/result.png", timeout=TIMEOUT).content == upcoming
    assert [
        rater.get(f"{second.url}api/trials/{p}", timeout=TIMEOUT).json()["score"] for p in range(4)
    ] == [3, 0, 5, None]
    repeat = rater.post(f"{second.url}api/trials/1/rating", json={"score": 2}, timeout=TIMEOUT)
    assert repeat.status_code == 409
    going_on = rater.post(f"{second.url}api/trials/3/rating", json={"score": 1}, timeout=TIMEOUT)
    assert going_on.status_code == 200 and going_on.json()["next"] == 4


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["serve", *args])
    return result.exit_code, result.output


def test_serve_refusals(tmp_path: Path, study_dirs, make_study: Callable[..., Path]) -> None:
    db = tmp_path / "new.sqlite"
    reference, methods = study_dirs
    code, output = invoke("--db", str(db))
    assert code == 2 and "new.sqlite: no such study; create it with --ref" in output
    code, output = invoke("--db", str(db), "--ref", str(reference))
    assert code == 2 and "needs --ref DIR and at least one --method" in output
    code, output = invoke("--db", str(db), "--ref", str(reference), "--method", "Sharp")
    assert code == 2 and "--method 'Sharp': expected NAME=DIR" in output
    code, output = invoke(*serve_args(db, study_dirs, "--patches", "0"), "--db", str(db))
    assert code == 2 and "--patches: Input should be greater than or equal to 1" in output
    # (An unknown --host ends the command should the study be built and served after all.)
    too_many = serve_args(db, study_dirs, "--patches", "10001", "--host", "no.such.host.invalid")
    code, output = invoke(*too_many, "--db", str(db))
    assert code == 2 and "--patches: Input should be less than or equal to 10000" in output
    code, output = invoke(
        "--db", str(db), "--ref", str(tmp_path / "nowhere"), "--method", f"A={methods['Sharp']}"
    )
    assert code == 1 and "nowhere: reference folder does not exist" in output
    assert not db.exists()

    existing = make_study(patches=4)
    code, output = invoke(
        *serve_args(existing, study_dirs, "--patches", "5"), "--db", str(existing)
    )
    assert code == 2 and "holds a different study (patches: 4 (stored) vs 5 (given))" in output
    code, output = invoke("--db", str(existing), "--patch-size", "32")
    assert code == 2 and "--patch-size: only apply when building a study" in output

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = invoke("--db", str(existing), "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in output
    code, output = invoke("--db", str(existing), "--host", "no.such.host.invalid", "--port", "0")
    assert code == 2 and "no.such.host.invalid:0: unknown host" in output


def test_unusable_study_location_is_refused_before_any_work(
    study_dirs, unusable_output: tuple[Path, str]
) -> None:
    folder, problem = unusable_output
    db = folder / "study.sqlite"
    code, output = invoke(*serve_args(db, study_dirs), "--db", str(db))
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 1 and line.startswith(f"error: --db {db}: ") and problem in line
    assert "building study" not in output and "MOS study" not in output


def test_a_folder_as_the_study_is_refused(tmp_path: Path, study_dirs) -> None:
    code, output = invoke(*serve_args(tmp_path, study_dirs), "--db", str(tmp_path))
    assert code == 1 and f"--db {tmp_path}: is a folder; give a file name" in output


def test_mos_is_a_subcommand_of_rwsr() -> None:
    from rwsr.cli.main import app as rwsr_app

    result = CliRunner().invoke(rwsr_app, ["mos", "--help"])
    assert result.exit_code == 0 and "serve" in result.output and "report" in result.output


@pytest.mark.parametrize("command", ["serve", "report"])
def test_help_lists_the_options(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--db" in result.output


def test_folders_may_end_in_a_file_pattern(tmp_path: Path) -> None:
    config = study_config(
        tmp_path / "RealSR" / "*_HR.png",
        [f"EDL={tmp_path / 'out'}", f"LR={tmp_path / 'RealSR'}/*_LR4.png"],
        {"patches": 10, "seed": None},
    )
    assert (config.reference, config.reference_pattern) == (tmp_path / "RealSR", "*_HR.png")
    assert [(m.name, m.directory, m.pattern) for m in config.methods] == [
        ("EDL", tmp_path / "out", "*"),
        ("LR", tmp_path / "RealSR", "*_LR4.png"),
    ]
    assert config.patches == 10 and config.seed == 0


def test_a_negative_seed_is_refused_by_the_option(tmp_path: Path, study_dirs) -> None:
    db = tmp_path / "study.sqlite"
    code, output = invoke(*serve_args(db, study_dirs, "--seed", "-1"), "--db", str(db))
    assert code == 2 and "Invalid value for '--seed'" in output and "Traceback" not in output
    assert not db.exists()
    for seed in (-1, 2**32):  # the Python API too (seeds are 32-bit numbers throughout)
        with pytest.raises(ValidationError, match="seed"):
            StudyConfig(
                reference=tmp_path, methods=[{"name": "A", "directory": tmp_path}], seed=seed
            )
