"""`rwsr noise collect` and the bank file: flat noisy patches in, clear errors out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from noise_images import LEVELS, in_flat_quadrant
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.data.ngdc.bank import open_bank
from rwsr.data.ngdc.cati import NoiseSamplingConfig
from rwsr.data.ngdc.collect import collect_noise
from rwsr.data.ngdc.patches import patch_statistics
from rwsr.errors import InputError

CONFIG = NoiseSamplingConfig(patch=32, percentile=25)


def test_bank_holds_flat_patches_with_the_known_noise(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    source = noisy_folder("src", [5.0, 5.0, 5.0])
    result = collect_noise(source, tmp_path / "bank", config=CONFIG, progress=False)
    bank = open_bank(tmp_path / "bank")
    assert len(bank) == result.patches > 20
    assert bank.patches.shape[1:] == (32, 32, 3) and bank.patches.dtype == np.uint8
    entries = bank.index["entries"]
    for k in range(len(bank)):
        y, x = entries["y"][k], entries["x"][k]
        assert in_flat_quadrant(y, x, 32)  # never the textured quadrant
        patch = bank.patches[k].astype(np.float64)
        quadrant = "bottom_left" if y >= 128 else "top_left" if x < 128 else "top_right"
        level = np.asarray(LEVELS[quadrant])
        residual = patch - level
        assert abs(residual.mean()) < 1.0
        assert 4.0 < residual.std() < 6.0  # the sigma we put in
        stats = patch_statistics(bank.patches[k], patch=32)
        assert stats.variance[0] == pytest.approx(entries["variance"][k], abs=1e-3)
        low, high = bank.cati.variance
        assert low - 1e-9 <= stats.variance[0] <= high + 1e-9  # summation order differs
    assert len(set(entries["source"])) == 3


def test_report_files_describe_the_run(noisy_folder: Callable[..., Path], tmp_path: Path) -> None:
    source = noisy_folder("src", [3.0, 3.0])
    collect_noise(source, tmp_path / "bank", config=CONFIG, progress=False)
    report = json.loads((tmp_path / "bank" / "report.json").read_text())
    assert report["images"]["source"] == {"kept": 2, "dropped": 0, "failed": 0}
    assert report["cati"]["selected"] == 32  # 25% of 2 x 64 windows
    assert "BT.601" in report["convention"]
    assert report["megapixels_per_second"] > 0
    assert (tmp_path / "bank" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| src_000_s3.png | source | kept |" in (tmp_path / "bank" / "report.md").read_text()


def test_cli_collect_exports_png_and_refuses_to_overwrite(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    source = noisy_folder("src", [4.0])
    out = tmp_path / "bank"
    args = ["noise", "collect", str(source), "-o", str(out), "--patch", "32", "--percentile", "25"]
    result = CliRunner().invoke(app, [*args, "--export-png", "--no-progress", "--workers", "1"])
    assert result.exit_code == 0, result.output
    count = len(open_bank(out))
    assert len(list((out / "png").glob("*.png"))) == count
    again = CliRunner().invoke(app, [*args, "--no-progress", "--workers", "1"])
    assert again.exit_code == 1
    assert "already exists; pass --overwrite" in again.output


def test_unreadable_and_small_images_are_reported_not_fatal(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    source = noisy_folder("src", [4.0, 4.0])
    (source / "broken.png").write_bytes(b"\x89PNG not really")
    from rwsr.imageio import write_image

    write_image(source / "tiny.png", np.full((20, 20, 3), 100, np.uint8))
    args = ["noise", "collect", str(source), "-o", str(tmp_path / "bank"), "--patch", "32"]
    result = CliRunner().invoke(
        app, [*args, "--percentile", "25", "--no-progress", "--workers", "1"]
    )
    assert result.exit_code == 1  # a failed file makes the run fail, after finishing the rest
    assert "broken.png: not a readable image" in result.output
    report = json.loads((tmp_path / "bank" / "report.json").read_text())
    by_name = {Path(r["path"]).name: r for r in report["records"]}
    assert by_name["broken.png"]["status"] == "failed"
    assert by_name["tiny.png"]["status"] == "dropped"
    assert "smaller than one 32x32 patch" in by_name["tiny.png"]["reason"]
    assert len(open_bank(tmp_path / "bank")) > 0


def test_empty_folder_and_all_clipped_sets_give_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["noise", "collect", str(tmp_path / "empty"), "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 1 and "holds no images" in result.output
    from rwsr.imageio import write_image

    write_image(tmp_path / "white" / "w.png", np.full((64, 64, 3), 255, np.uint8))
    with pytest.raises(InputError, match="every patch was clipped"):
        collect_noise(tmp_path / "white", tmp_path / "b", config=CONFIG, progress=False)


def test_a_bank_with_zero_patches_explains_the_cati(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    np.save(bank / "patches.npy", np.zeros((0, 32, 32, 3), np.uint8))
    cati = {
        "variance": [1.0, 2.0],
        "mean": [10.0, 20.0],
        "percentile": 2.0,
        "selected": 8,
        "candidates": 100,
        "widened": False,
    }
    index = {"format": "rwsr-noise-bank", "version": 1, "count": 0, "patch": 32, "cati": cati}
    (bank / "index.json").write_text(json.dumps(index))
    with pytest.raises(
        InputError, match=r"0 patches \(variance \[1\.000, 2\.000\].*raise --percentile"
    ):
        open_bank(bank)


def test_parallel_collection_gives_the_same_bank(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    source = noisy_folder("src", [4.0, 6.0, 4.0])
    collect_noise(source, tmp_path / "serial", config=CONFIG, progress=False)
    collect_noise(source, tmp_path / "parallel", config=CONFIG, workers=2, progress=False)
    serial, parallel = open_bank(tmp_path / "serial"), open_bank(tmp_path / "parallel")
    assert np.array_equal(np.asarray(serial.patches), np.asarray(parallel.patches))
    assert serial.index["entries"] == parallel.index["entries"]


def test_cli_fixed_rule_banks_the_flat_windows_of_known_noise(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    """sigma 5 puts flat windows near variance 11 (luma); texture is far above. A fixed
    variance bound of 20 keeps every flat unclipped window, 5 keeps none and says what to do."""
    source = noisy_folder("src", [5.0, 5.0])
    runner = CliRunner()
    common = ["noise", "collect", str(source), "--patch", "32", "--no-progress"]
    result = runner.invoke(app, [*common, "-o", str(tmp_path / "bank"), "--max-variance", "20"])
    assert result.exit_code == 0, result.output
    bank = open_bank(tmp_path / "bank")
    assert bank.cati.rule == "fixed"
    flat_windows = sum(
        in_flat_quadrant(y, x, 32) for y in range(0, 256, 32) for x in range(0, 256, 32)
    )
    assert len(bank) == 2 * flat_windows  # 48 flat windows per image, all below 20
    assert max(bank.index["entries"]["variance"]) < 20
    strict = runner.invoke(app, [*common, "-o", str(tmp_path / "none"), "--max-variance", "5"])
    assert strict.exit_code != 0 and "raise --max-variance" in strict.output.lower()
    bright = [
        "--max-variance",
        "20",
        "--min-mean",
        "255",
    ]  # nothing is brighter: an error, no trace
    none = runner.invoke(app, [*common, "-o", str(tmp_path / "bright"), *bright])
    assert (
        none.exit_code == 1 and none.output.startswith("error:") and "Traceback" not in none.output
    )
    alone = runner.invoke(app, [*common, "-o", str(tmp_path / "x"), "--min-mean", "50"])
    assert alone.exit_code == 2 and "give --max-variance too" in alone.output


def test_cli_overwrite_leaves_no_png_of_the_earlier_bank(
    noisy_folder: Callable[..., Path], tmp_path: Path
) -> None:
    big, small = noisy_folder("big", [4.0, 4.0, 4.0]), noisy_folder("small", [4.0], first_seed=7)
    out = tmp_path / "bank"
    common = ["-o", str(out), "--patch", "32", "--export-png", "--no-progress", "--workers", "1"]
    first = CliRunner().invoke(app, ["noise", "collect", str(big), *common, "--percentile", "25"])
    assert first.exit_code == 0, first.output
    (tmp_path / "notes.txt").write_text("mine")
    (out / "notes.txt").write_text("mine too")  # not a file the bank writes: it stays
    before = len(list((out / "png").glob("*.png")))
    second = CliRunner().invoke(
        app, ["noise", "collect", str(small), *common, "--percentile", "5", "--overwrite"]
    )
    assert second.exit_code == 0, second.output
    count = len(open_bank(out))
    assert count < before
    assert sorted(p.name for p in (out / "png").iterdir()) == [f"{i:06d}.png" for i in range(count)]
    report = json.loads((out / "report.json").read_text())
    assert [Path(r["path"]).parent.name for r in report["records"]] == ["small"]
    assert (out / "notes.txt").read_text() == "mine too"


def test_unusable_bank_folder_is_refused_before_any_scan(
    noisy_folder: Callable[..., Path], unusable_output: tuple[Path, str]
) -> None:
    out, problem = unusable_output
    source = noisy_folder("src", [4.0])
    args = ["noise", "collect", str(source), "-o", str(out), "--patch", "32", "--percentile", "25"]
    result = CliRunner().invoke(app, [*args, "--no-progress", "--workers", "1"])
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert "CATI" not in result.output
