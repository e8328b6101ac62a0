"""Pairing reference images with method outputs, and validating a study's config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from rwsr.errors import InputError
from rwsr.imageio import write_image
from rwsr.mos.config import MethodSource, StudyConfig
from rwsr.mos.matching import match_images, matches, reference_key

TINY = np.zeros((4, 4, 3), np.uint8)


def touch_images(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_image(folder / name, TINY)
    return folder


@pytest.mark.parametrize(
    ("stem", "key"),
    [
        ("Canon_001_HR", "Canon_001"),
        ("001H", "001"),
        ("0801", "0801"),
        ("img-GT", "img"),
        ("baboon", "baboon"),
        ("HR", "HR"),
    ],
)
def test_reference_key_strips_hr_tags_only(stem: str, key: str) -> None:
    assert reference_key(stem) == key


@pytest.mark.parametrize(
    ("key", "stem", "expected"),
    [
        ("0801", "0801", True),
        ("0801", "0801_x4_SR", True),
        ("Canon_001", "Canon_001_SR", True),
        ("001", "001L", True),  # City100: 001H.PNG reference, 001L-based output
        ("001", "0010", False),
        ("Canon_001", "Canon_0012_SR", False),
        ("baboon", "baboonx", False),
        ("0801", "x0801", False),
    ],
)
def test_method_file_matching_rule(key: str, stem: str, expected: bool) -> None:
    assert matches(key, stem) is expected


def test_match_images_pairs_differently_named_outputs(tmp_path: Path) -> None:
    reference = touch_images(tmp_path / "hr", "Canon_001_HR.png", "Canon_002_HR.png")
    edl = touch_images(tmp_path / "edl", "Canon_002_SR.png", "Canon_001_SR.png", "notes.txt.png")
    esr = touch_images(tmp_path / "esr", "Canon_001.png", "Canon_002.png")
    (edl / "readme.txt").write_text("not an image")
    methods = (MethodSource(name="EDL", directory=edl), MethodSource(name="ESR", directory=esr))
    scenes = match_images(reference, methods)
    assert [s.key for s in scenes] == ["Canon_001", "Canon_002"]
    assert scenes[1].outputs == {"EDL": edl / "Canon_002_SR.png", "ESR": esr / "Canon_002.png"}


def test_exact_name_wins_over_prefixed_one(tmp_path: Path) -> None:
    reference = touch_images(tmp_path / "hr", "0801.png")
    out = touch_images(tmp_path / "out", "0801.png", "0801_x4.png")
    scenes = match_images(reference, (MethodSource(name="A", directory=out),))
    assert scenes[0].outputs["A"] == out / "0801.png"


def test_missing_output_is_an_error_naming_method_and_images(tmp_path: Path) -> None:
    reference = touch_images(tmp_path / "hr", "a.png", "b.png", "c.png")
    out = touch_images(tmp_path / "out", "a_sr.png")
    with pytest.raises(InputError, match=r"out: method 'A' has no output for 2 .*b\.png, c\.png"):
        match_images(reference, (MethodSource(name="A", directory=out),))


def test_ambiguous_output_is_an_error_listing_candidates(tmp_path: Path) -> None:
    reference = touch_images(tmp_path / "hr", "0801.png")
    out = touch_images(tmp_path / "out", "0801_x4.png", "0801_rlt.png")
    with pytest.raises(InputError, match="several files of method 'A' match reference 0801.png"):
        match_images(reference, (MethodSource(name="A", directory=out),))


def test_missing_and_empty_folders_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    method = (MethodSource(name="A", directory=empty),)
    with pytest.raises(InputError, match="nowhere: reference folder does not exist"):
        match_images(tmp_path / "nowhere", method)
    with pytest.raises(InputError, match="empty: reference folder holds no images"):
        match_images(empty, method)


def test_config_rejects_duplicate_and_unsafe_method_names(tmp_path: Path) -> None:
    same = MethodSource(name="A", directory=tmp_path)
    with pytest.raises(ValidationError, match="repeated: A"):
        StudyConfig(reference=tmp_path, methods=(same, same))
    with pytest.raises(ValidationError, match="must start with a letter or digit"):
        MethodSource(name="<script>", directory=tmp_path)
    with pytest.raises(ValidationError, match="exceeds patches"):
        StudyConfig(reference=tmp_path, methods=(same,), patches=4, patches_per_rater=5)


def test_config_differences_are_readable(tmp_path: Path) -> None:
    method = (MethodSource(name="A", directory=tmp_path),)
    stored = StudyConfig(reference=tmp_path, methods=method)
    given = StudyConfig(reference=tmp_path, methods=method, patches=50)
    assert stored.differences(given) == ["patches: 100 (stored) vs 50 (given)"]
    assert stored.differences(stored) == []


def test_reference_folder_can_serve_as_a_hidden_anchor_method(tmp_path: Path) -> None:
    reference = touch_images(tmp_path / "hr", "Canon_001_HR.png", "001H.PNG")
    scenes = match_images(reference, (MethodSource(name="HR", directory=reference),))
    assert {s.reference: s.outputs["HR"] for s in scenes} == {
        reference / "Canon_001_HR.png": reference / "Canon_001_HR.png",
        reference / "001H.PNG": reference / "001H.PNG",
    }


def test_patterns_pick_images_out_of_mixed_folders(tmp_path: Path) -> None:
    realsr = touch_images(tmp_path / "realsr", "Canon_001_HR.png", "Canon_001_LR4.png")
    city = touch_images(tmp_path / "city", "021H.PNG", "021L.PNG", "022H.PNG", "022L.PNG")
    touch_images(city, ".021L.tmp.PNG")  # a half-written file of another tool is never picked
    edl = touch_images(tmp_path / "edl", "Canon_001_SR.png")
    scenes = match_images(realsr, (MethodSource(name="EDL", directory=edl),), pattern="*_HR.png")
    assert [s.reference.name for s in scenes] == ["Canon_001_HR.png"]
    lr = MethodSource(name="LR", directory=city, pattern="*L.PNG")
    scenes = match_images(city, (lr,), pattern="*H.PNG")
    assert {s.reference.name: s.outputs["LR"].name for s in scenes} == {
        "021H.PNG": "021L.PNG",
        "022H.PNG": "022L.PNG",
    }
    with pytest.raises(
        InputError,
        match=r"realsr: reference folder holds no images matching "
        r"'\*_GT.png'",
    ):
        match_images(realsr, (lr,), pattern="*_GT.png")


def test_patterns_stay_inside_their_folder(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be a non-empty name pattern"):
        MethodSource(name="A", directory=tmp_path, pattern="../*.png")
    with pytest.raises(ValidationError, match="must be a non-empty name pattern"):
        StudyConfig(
            reference=tmp_path,
            reference_pattern="**/*.png",
            methods=(MethodSource(name="A", directory=tmp_path),),
        )
