"""MOS statistics and the report files, from ratings with known answers."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from rwsr.cli.mos import app
from rwsr.errors import ConfigError, InputError
from rwsr.mos.report import REPORT_FILES, write_report
from rwsr.mos.results import compute_report
from rwsr.mos.stats import consensus_correlation, mean_ci
from rwsr.mos.study import Study


def test_mean_ci_is_the_t_interval() -> None:
    scores = np.array([0, 1, 1, 2, 3, 3, 3, 5])
    estimate = mean_ci(scores)
    low, high = scipy_stats.t.interval(
        0.95, len(scores) - 1, loc=scores.mean(), scale=scipy_stats.sem(scores)
    )
    assert estimate.mean == pytest.approx(2.25)
    assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))
    assert estimate.n == 8 and estimate.std == pytest.approx(np.std(scores, ddof=1))
    single = mean_ci(np.array([4]))
    assert single.mean == 4 and math.isnan(single.low) and math.isnan(single.std)
    assert math.isnan(mean_ci(np.array([])).mean)


def test_consensus_correlation_leaves_the_rater_out() -> None:
    # Trials 0..3; raters 1-3 agree exactly; rater 4 answers the opposite way.
    agreed = np.array([0, 1, 3, 5])
    raters = np.repeat([1, 2, 3, 4], 4)
    trials = np.tile([0, 1, 2, 3], 4)
    scores = np.concatenate([agreed, agreed, agreed, 5 - agreed])
    r = consensus_correlation(raters, trials, scores)
    assert r[1] == r[2] == r[3] == pytest.approx(1.0)  # others' mean is (s + 5) / 3
    assert r[4] == pytest.approx(-1.0)
    # Without leaving the rater out, rater 4 would partly agree with themselves.
    tilted = np.concatenate([agreed, [0, 1, 3, 5], [1, 1, 3, 4], 5 - agreed])
    by_hand = np.corrcoef(tilted[12:], (tilted[:4] + tilted[4:8] + tilted[8:12]) / 3)[0, 1]
    assert consensus_correlation(raters, trials, tilted)[4] == pytest.approx(by_hand)
    alone = consensus_correlation(np.array([1, 1]), np.array([0, 1]), np.array([2, 3]))
    assert alone == {1: None}


def rate_everything(study: Study, answers: Callable[[bytes], int], raters: int) -> None:
    """Raters answer by a rule of the shown patch (the same for every rater)."""
    for _ in range(raters):
        _, rater = study.create_rater()
        for position in range(study.progress(rater).total):
            patch = study.patch_png(rater, position, "result")
            study.rate(rater, position, answers(patch), elapsed_ms=1000 + position)


@pytest.fixture
def rated_study(make_study: Callable[..., Path]) -> Path:
    """4 raters; Sharp patches get 1, Blurry patches 4, except from rater 4, who swaps them."""
    db = make_study(patches=4)
    study = Study(db)
    with sqlite3.connect(db) as connection:
        sharp = {
            bytes(png)
            for (png,) in connection.execute(
                "SELECT png FROM trials JOIN methods m ON m.id = method_id WHERE m.name = 'Sharp'"
            )
        }
    rate_everything(study, lambda patch: 1 if patch in sharp else 4, raters=3)
    rate_everything(study, lambda patch: 4 if patch in sharp else 1, raters=1)
    study.close()
    return db


def test_report_numbers(rated_study: Path) -> None:
    report = compute_report(rated_study)
    sharp, blurry = report.methods
    assert (sharp.name, blurry.name) == ("Sharp", "Blurry")
    assert sharp.estimate.n == 16 and sharp.raters == 4
    assert sharp.estimate.mean == pytest.approx((1 * 12 + 4 * 4) / 16)
    assert sharp.histogram == (0, 12, 0, 0, 4, 0)
    assert blurry.histogram == (0, 4, 0, 0, 12, 0)
    by_rater = {r.rater: r for r in report.raters}
    assert by_rater[4].consensus_r == pytest.approx(-1.0)
    assert by_rater[1].consensus_r == pytest.approx(1.0)
    assert by_rater[1].ratings == 8 and by_rater[1].mean == pytest.approx(2.5)
    assert by_rater[1].median_seconds == pytest.approx(1.0035)


def test_careless_raters_can_be_left_out(rated_study: Path) -> None:
    report = compute_report(rated_study, min_correlation=0.3)
    assert [r.excluded for r in report.raters] == [None] * 3 + ["consensus r -1.00 < 0.30"]
    assert report.methods[0].estimate.mean == 1.0 and report.methods[0].estimate.n == 12
    assert report.methods[1].estimate.mean == 4.0
    by_hand = compute_report(rated_study, exclude=[4])
    assert by_hand.methods[0].estimate.mean == 1.0
    with pytest.raises(ConfigError, match="cannot exclude rater\\(s\\) 9: no ratings"):
        compute_report(rated_study, exclude=[9])


def test_report_files(rated_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    paths = write_report(compute_report(rated_study), out)
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES)
    markdown = (out / "mos.md").read_text()
    assert "| Method | MOS ↓ | 95% CI | Ratings | Raters |" in markdown
    assert "| Sharp | **1.75** | " in markdown and "| Blurry | 3.25 | " in markdown
    assert "lower is better" in markdown and "0 Perfect" in markdown
    with open(out / "mos.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["method"] for row in table] == ["Sharp", "Blurry"]
    assert float(table[1]["mos"]) == 3.25 and table[1]["ratings"] == "16"
    assert table[0]["score_1"] == "12"
    data = json.loads((out / "mos.json").read_text())
    assert data["methods"][0]["mos"] == 1.75 and data["methods"][0]["histogram"]["4"] == 4
    assert data["raters"][3]["consensus_r"] == pytest.approx(-1.0)
    assert "token" not in (out / "mos.json").read_text()
    with open(out / "raters.csv", newline="") as handle:
        assert [row["rater"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4"]
    chart = cv2.imread(str(out / "mos.png"))
    assert chart is not None and chart.shape[0] > 300 and chart.shape[1] > 400

    before = (out / "mos.md").read_text()
    with pytest.raises(InputError, match="already exist.*--overwrite"):
        write_report(compute_report(rated_study, exclude=[4]), out)
    assert (out / "mos.md").read_text() == before
    write_report(compute_report(rated_study, exclude=[4]), out, overwrite=True)
    assert "Left out: rater 4 (excluded on request)." in (out / "mos.md").read_text()


def test_a_study_without_ratings_has_no_report(make_study: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match="no ratings yet"):
        compute_report(make_study())


def test_report_command(rated_study: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r"
    result = runner.invoke(app, ["report", "--db", str(rated_study), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Sharp  MOS 1.75  [" in result.output and "n=16" in result.output
    assert (out / "mos.png").is_file()
    again = runner.invoke(app, ["report", "--db", str(rated_study), "-o", str(out)])
    assert again.exit_code == 1 and "error:" in again.output and "--overwrite" in again.output
    missing = runner.invoke(app, ["report", "--db", str(tmp_path / "nope.sqlite"), "-o", str(out)])
    assert missing.exit_code == 1 and "nope.sqlite: study database does not exist" in missing.output


@pytest.mark.parametrize("value", ["2", "-1.5", "nan", "inf"])
def test_min_correlation_is_a_correlation(rated_study: Path, tmp_path: Path, value: str) -> None:
    out = tmp_path / "r"
    args = ["report", "--db", str(rated_study), "-o", str(out), "--min-correlation", value]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--min-correlation must be a number from -1 to 1" in result.output
    assert not out.exists()
    with pytest.raises(ConfigError, match="--min-correlation"):
        compute_report(rated_study, min_correlation=float(value))


def test_unusable_report_folder_is_refused_before_any_work(
    rated_study: Path, unusable_output: tuple[Path, str]
) -> None:
    out, problem = unusable_output
    result = CliRunner().invoke(app, ["report", "--db", str(rated_study), "-o", str(out)])
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert "MOS" not in result.output
