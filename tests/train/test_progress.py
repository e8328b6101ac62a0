"""Validation crops and progress.html of a tiny run: the same centred crops every validation,
the page naming them with their scores, validation.images 0, keep_images, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rwsr.eval.tables import format_value
from rwsr.imageio import read_image, write_image
from rwsr.train.trainer import train
from rwsr.train.validation import centred_crops

PAIRS = ("021", "022", "023")  # x1; 021 is 300 x 256 px, 022 and 023 160 x 160


@pytest.fixture
def validation_pairs(city100_crops: Path, tmp_path: Path) -> Path:
    """Three real x1 City100 pairs, whole, in the generic layout."""
    root = tmp_path / "validation_pairs"
    for number in PAIRS:
        write_image(root / "LR" / f"{number}.png", read_image(city100_crops / f"{number}L.PNG"))
        write_image(root / "HR" / f"{number}.png", read_image(city100_crops / f"{number}H.PNG"))
    return root


@pytest.fixture
def validated_run(tiny_config, validation_pairs: Path):
    def make(*overrides: str):
        return tiny_config(
            "validation.layout=paired",
            f"validation.root={validation_pairs}",
            "validation.scale=1",
            "validation.every=2",
            "validation.lpips_backbone=random",
            "validation.image_crop=64",
            "name=watched",
            *overrides,
        )

    return make


def _val_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "val"]


def _folders(run_dir: Path) -> list[str]:
    return sorted(path.name for path in (run_dir / "validation").iterdir())


def test_each_validation_saves_the_same_crops_and_a_page_with_their_scores(
    validated_run, validation_pairs: Path
) -> None:
    run_dir = train(validated_run("validation.images=2", "optim.iterations=4"), progress=False)
    assert _folders(run_dir) == ["iter_0000002", "iter_0000004"]
    hr = read_image(validation_pairs / "HR" / "021.png")
    lr = read_image(validation_pairs / "LR" / "021.png")
    expected = [
        f"{stem}_{kind}.png" for stem in ("00_021", "01_022") for kind in ("hr", "lr", "sr")
    ]
    for name in _folders(run_dir):
        folder = run_dir / "validation" / name
        assert sorted(path.name for path in folder.iterdir()) == expected
        # 021: the centred 64 px square of 300 x 256 starts at (x, y) = (118, 96); x1: LR as is
        np.testing.assert_array_equal(read_image(folder / "00_021_hr.png"), hr[96:160, 118:182])
        np.testing.assert_array_equal(read_image(folder / "00_021_lr.png"), lr[96:160, 118:182])
        assert read_image(folder / "00_021_sr.png").shape == (64, 64, 3)
        assert read_image(folder / "01_022_sr.png").shape == (64, 64, 3)
    page = (run_dir / "progress.html").read_text()
    assert "src='curves.png" in page and (run_dir / "curves.png").is_file()
    for record in _val_records(run_dir):
        number = record["iteration"]
        scores = ", ".join(
            f"{label} {format_value(key, record[key])}"
            for key, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("lpips", "LPIPS"))
        )
        section = page.split(f"<h2 id='iter_{number}'>")[1].split("<h2")[0]
        assert scores in section
        for name in ("00_021", "01_022"):
            for kind in ("lr", "sr", "hr"):
                assert f"src='validation/iter_{number:07d}/{name}_{kind}.png'" in section


def test_validation_images_0_saves_none(validated_run) -> None:
    run_dir = train(validated_run("validation.images=0", "optim.iterations=2"), progress=False)
    assert not (run_dir / "validation").exists()
    page = (run_dir / "progress.html").read_text()
    assert "<img" in page and "validation/" not in page  # the curves and the scores only


def test_keep_images_removes_the_oldest(validated_run) -> None:
    config = validated_run(
        "validation.images=1",
        "validation.every=1",
        "validation.keep_images=2",
        "optim.iterations=3",
    )
    run_dir = train(config, progress=False)
    assert _folders(run_dir) == ["iter_0000002", "iter_0000003"]
    page = (run_dir / "progress.html").read_text()
    # every validation's scores, newest first; the crops of the kept ones only
    rows = re.findall(r"<tr><td[^>]*>(?:<a href='#iter_\d+'>)?(\d+)", page)
    assert rows == ["3", "2", "1"]
    assert re.findall(r"id='iter_(\d+)'", page) == ["3", "2"]


def test_a_resumed_run_neither_duplicates_nor_keeps_images_of_undone_iterations(
    validated_run,
) -> None:
    """A run that went to 6, resumed from its checkpoint at 2 and stopped at 4: the log, the
    folders and the page hold 2 and 4 once each, nothing of 6."""
    run_dir = train(validated_run("validation.images=1", "optim.iterations=6"), progress=False)
    assert _folders(run_dir) == ["iter_0000002", "iter_0000004", "iter_0000006"]
    train(
        validated_run("validation.images=1", "optim.iterations=4"),
        resume=run_dir / "checkpoints" / "iter_0000002.pt",
        progress=False,
    )
    assert [r["iteration"] for r in _val_records(run_dir)] == [2, 4]
    assert _folders(run_dir) == ["iter_0000002", "iter_0000004"]
    page = (run_dir / "progress.html").read_text()
    assert page.count("id='iter_4'") == page.count("id='iter_2'") == 1
    assert "iter_6" not in page and "iter_0000006" not in page


def test_x4_crops_show_lr_enlarged_by_nearest_neighbour() -> None:
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    sr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    crops = centred_crops("x4", lr, sr, sr.copy(), side=16)
    # the centred 16 px square of 40 x 48 starts at (x, y) = (16, 12): LR pixel (4, 3)
    np.testing.assert_array_equal(crops.sr, sr[12:28, 16:32])
    np.testing.assert_array_equal(crops.lr[:4, :4], np.broadcast_to(lr[3, 4], (4, 4, 3)))
    np.testing.assert_array_equal(crops.lr[::4, ::4], lr[3:7, 4:8])
