"""Data set readers: each layout of DESIGN §4 to pairs, splits by name, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rwsr.data.datasets import LAYOUTS, load_pairs
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import write_image


def image(path: Path, height: int, width: int) -> Path:
    write_image(path, np.full((height, width, 3), 128, np.uint8))
    return path


def test_city100_splits_on_the_real_pairs(city100_crops: Path) -> None:
    pairs = load_pairs(city100_crops, layout="city100", split="train")
    assert [p.name for p in pairs] == ["021", "022", "023", "033", "050", "064", "091"]
    assert all(
        p.scale == 1 and p.lr.name == f"{p.name}L.PNG" and p.hr.name == f"{p.name}H.PNG"
        for p in pairs
    )
    fit = load_pairs(city100_crops, layout="city100", split="fit")
    val = load_pairs(city100_crops, layout="city100", split="val")
    assert [p.name for p in fit] == ["021", "022", "023", "033", "050", "064"]  # 021-090
    assert [p.name for p in val] == ["091"]  # 091-100
    with pytest.raises(InputError, match="no image pairs found"):
        load_pairs(city100_crops, layout="city100", split="test")  # 001-020: none here
    with pytest.raises(ConfigError, match="valid: train, test, all"):
        load_pairs(city100_crops, layout="city100", split="validation")


def test_realsr_v3_layout_and_size_check(tmp_path: Path) -> None:
    folder = tmp_path / "Canon" / "Train" / "4"
    for k in (1, 2):
        image(folder / f"Canon_{k:03d}_HR.png", 64, 48)
        image(folder / f"Canon_{k:03d}_LR4.png", 16, 12)
    pairs = load_pairs(tmp_path, layout="realsr", split="train")
    assert [(p.name, p.scale) for p in pairs] == [("Canon_001", 4), ("Canon_002", 4)]
    write_image(folder / "Canon_002_LR4.png", np.zeros((16, 13, 3), np.uint8), overwrite=True)
    with pytest.raises(
        InputError, match=r"Canon_002_LR4.png: LR is 13x16, so x4 gives 52x64, but HR .* is 48x64"
    ):
        load_pairs(tmp_path, layout="realsr", split="train")
    image(folder / "Canon_003_HR.png", 64, 48)
    with pytest.raises(InputError, match="Canon_003_HR.png: no LR partner Canon_003_LR4.png"):
        load_pairs(tmp_path, layout="realsr", split="train", check=False)


def test_paired_folder_as_written_by_rwsr_pairs(tmp_path: Path) -> None:
    for name in ("a", "b"):
        image(tmp_path / "HR" / f"{name}.png", 32, 40)
        image(tmp_path / "LR" / f"{name}.png", 8, 10)
    assert [p.name for p in load_pairs(tmp_path)] == ["a", "b"]
    image(tmp_path / "LR" / "c.png", 8, 10)
    with pytest.raises(InputError, match=r"LR/c.png: no HR partner"):
        load_pairs(tmp_path)


def test_div2k_flickr2k_and_ntire_validation_layouts(tmp_path: Path) -> None:
    image(tmp_path / "DIV2K_train_HR" / "0001.png", 40, 40)
    image(tmp_path / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png", 10, 10)
    image(tmp_path / "Flickr2K_HR" / "000001.png", 40, 40)
    image(tmp_path / "Flickr2K_LR_bicubic" / "X4" / "000001x4.png", 10, 10)
    image(tmp_path / "DIV2K_valid_HR" / "0801.png", 40, 40)
    image(tmp_path / "Corrupted-va-x" / "0801.png", 10, 10)
    assert [p.name for p in load_pairs(tmp_path, layout="div2k")] == ["0001"]
    assert [p.name for p in load_pairs(tmp_path, layout="flickr2k")] == ["000001"]
    assert [p.lr.parent.name for p in load_pairs(tmp_path, layout="ntire2020")] == [
        "Corrupted-va-x"
    ]
    with pytest.raises(ConfigError, match="ntire2020 has no split 'train'"):
        load_pairs(tmp_path, layout="ntire2020", split="train")


def test_unknown_layout_unreadable_file_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="unknown data set layout 'realsr4'; valid: " + ", ".join(LAYOUTS)
    ):
        load_pairs(tmp_path, layout="realsr4")
    with pytest.raises(InputError, match="data set folder does not exist"):
        load_pairs(tmp_path / "nowhere")
    image(tmp_path / "HR" / "a.png", 8, 8)
    (tmp_path / "LR").mkdir()
    (tmp_path / "LR" / "a.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"LR/a.png: not a readable image"):
        load_pairs(tmp_path, scale=1)


def test_problems_are_listed_instead_of_raised_when_asked(tmp_path: Path) -> None:
    """Evaluation wants every usable pair and a list of the others; training wants to stop."""
    folder = tmp_path / "Canon" / "Test" / "4"
    for k in (1, 2, 3):
        image(folder / f"Canon_{k:03d}_HR.png", 64, 48)
    image(folder / "Canon_001_LR4.png", 16, 12)
    image(folder / "Canon_002_LR4.png", 16, 13)  # wrong size
    problems: list[str] = []
    pairs = load_pairs(tmp_path, layout="realsr", split="test", problems=problems)
    assert [p.name for p in pairs] == ["Canon_001"]
    assert len(problems) == 2
    assert "Canon_003_HR.png: no LR partner Canon_003_LR4.png" in problems[0]
    assert "Canon_002_LR4.png: LR is 13x16" in problems[1]
    with pytest.raises(InputError, match="Canon_003_HR.png: no LR partner"):
        load_pairs(tmp_path, layout="realsr", split="test")
    image(tmp_path / "HR" / "a.png", 32, 40)
    image(tmp_path / "LR" / "b.png", 8, 10)
    with pytest.raises(InputError, match="no image pairs found"):
        load_pairs(tmp_path, problems=[])
