"""Building a study: stored positions, pixel-exact patches, refusals, atomic creation."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from mos_helpers import study_config

from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image, write_image
from rwsr.mos.build import build_study, ensure_study
from rwsr.mos.config import MethodSource, StudyConfig
from rwsr.mos.db import open_study
from rwsr.mos.sampling import sample_positions
from rwsr.mos.study import Study


def decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]


def rows(db: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_patches_are_exact_crops_at_stored_positions(make_study: Callable[..., Path]) -> None:
    db = make_study(patches=7, patch_size=16)
    patches = rows(
        db,
        "SELECT p.id, i.reference, p.y, p.x, p.size, p.reference_png FROM patches p "
        "JOIN images i ON i.id = p.image_id",
    )
    assert len(patches) == 7
    per_image = sorted(n for (n,) in rows(db, "SELECT COUNT(*) FROM patches GROUP BY image_id"))
    assert per_image == [2, 2, 3]  # spread as evenly as possible
    outputs = {
        (image, method): path
        for image, method, path in rows(
            db,
            "SELECT i.reference, m.name, o.path FROM outputs o JOIN images i ON i.id = "
            "o.image_id JOIN methods m ON m.id = o.method_id",
        )
    }
    for patch_id, reference, y, x, size, png in patches:
        source = read_image(reference)
        assert 0 <= y <= source.shape[0] - size and 0 <= x <= source.shape[1] - size
        np.testing.assert_array_equal(decode(png), source[y : y + size, x : x + size])
        for method, trial_png in rows(
            db,
            f"SELECT m.name, t.png FROM trials t JOIN methods m ON m.id = t.method_id "
            f"WHERE t.patch_id = {patch_id}",
        ):
            output = read_image(outputs[(reference, method)])
            np.testing.assert_array_equal(decode(trial_png), output[y : y + size, x : x + size])
    assert rows(db, "SELECT COUNT(*) FROM trials") == [(14,)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_patches_of_one_image_do_not_overlap_when_there_is_room(
    make_study: Callable[..., Path],
) -> None:
    db = make_study(patches=6, patch_size=16)
    by_image: dict[int, list[tuple[int, int]]] = {}
    for image, y, x in rows(db, "SELECT image_id, y, x FROM patches"):
        by_image.setdefault(image, []).append((y, x))
    for spots in by_image.values():
        for i, (y1, x1) in enumerate(spots):
            for y2, x2 in spots[i + 1 :]:
                assert abs(y1 - y2) >= 16 or abs(x1 - x2) >= 16


def positions_checked_against_every_patch(
    height: int, width: int, size: int, count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """The placement rule written plainly: each draw is compared with every patch so far."""
    taken: list[tuple[int, int]] = []
    for _ in range(count):
        for attempt in range(200):
            y = int(rng.integers(0, height - size + 1))
            x = int(rng.integers(0, width - size + 1))
            apart = all(abs(y - ty) >= size or abs(x - tx) >= size for ty, tx in taken)
            if apart or attempt == 199:
                break
        taken.append((y, x))
    return taken


@pytest.mark.parametrize(
    ("height", "width", "size", "count"),
    [(72, 96, 16, 6), (72, 96, 16, 40), (300, 500, 32, 150), (40, 40, 8, 120), (64, 200, 64, 9)],
)
def test_placement_looks_only_at_nearby_patches_yet_follows_the_rule(
    height: int, width: int, size: int, count: int
) -> None:
    for seed in range(3):
        expected = positions_checked_against_every_patch(
            height, width, size, count, np.random.default_rng(seed)
        )
        got = sample_positions(height, width, size, count, np.random.default_rng(seed))
        assert got == expected


def test_patches_are_bounded() -> None:
    """Each patch is stored once per method; 10,000 is beyond any panel of raters."""
    with pytest.raises(ValueError, match="less than or equal to 10000"):
        StudyConfig(
            reference=Path("hr"),
            methods=(MethodSource(name="A", directory=Path("a")),),
            patches=10_001,
        )


def test_positions_follow_the_seed(make_study: Callable[..., Path]) -> None:
    query = "SELECT image_id, y, x FROM patches ORDER BY id"
    first, again, other = make_study(seed=1), make_study(seed=1), make_study(seed=2)
    assert rows(first, query) == rows(again, query)
    assert rows(first, query) != rows(other, query)


def test_sixteen_bit_images_are_shown_rounded_to_eight_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference, method = tmp_path / "hr", tmp_path / "m"
    reference.mkdir(), method.mkdir()
    deep = rng.integers(0, 65536, (20, 20, 3), dtype=np.uint16)
    write_image(reference / "a.png", deep)
    write_image(method / "a.png", deep)
    db = tmp_path / "s.sqlite"
    build_study(study_config((reference, {"M": method}), patches=1, patch_size=20), db)
    [(png,)] = rows(db, "SELECT reference_png FROM patches")
    expected = np.rint(deep / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(decode(png), expected)


def test_size_mismatch_names_both_images(tmp_path: Path, study_dirs) -> None:
    _, methods = study_dirs
    write_image(
        methods["Sharp"] / "Canon_002_SR.png", np.zeros((70, 96, 3), np.uint8), overwrite=True
    )
    db = tmp_path / "s.sqlite"
    with pytest.raises(
        InputError,
        match=r"Canon_002_SR\.png: method 'Sharp' output is 96x70 but "
        r"reference Canon_002_HR\.png is 96x72",
    ):
        build_study(study_config(study_dirs), db)
    assert not db.exists() and list(tmp_path.glob("*.sqlite*")) == []


def test_image_smaller_than_patch_is_refused(tmp_path: Path, study_dirs) -> None:
    with pytest.raises(
        InputError,
        match=r"Canon_001_HR\.png: image is 96x72, smaller than the "
        "128-px patch",
    ):
        build_study(study_config(study_dirs, patch_size=128), tmp_path / "s.sqlite")


def test_existing_study_is_kept_unless_overwrite(
    make_study: Callable[..., Path], study_dirs
) -> None:
    db = make_study()
    study = Study(db)
    _, rater = study.create_rater()
    study.rate(rater, 0, 1)
    study.close()
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        build_study(study_config(study_dirs, patches=3), db)
    assert rows(db, "SELECT COUNT(*) FROM ratings") == [(1,)]
    build_study(study_config(study_dirs, patches=3), db, overwrite=True)
    assert rows(db, "SELECT COUNT(*) FROM ratings") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM patches") == [(3,)]


def test_opening_something_else_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.sqlite"
    junk.write_text("hello, not a database" * 100)
    with pytest.raises(InputError, match="notes.sqlite: not a MOS study database"):
        open_study(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="other.sqlite: not a MOS study database"):
        open_study(other)
    with pytest.raises(InputError, match="missing.sqlite: study database does not exist"):
        open_study(tmp_path / "missing.sqlite")


def test_city100_pairs_from_one_folder(city100_crops: Path, tmp_path: Path) -> None:
    """Real photos: City100 keeps HR (021H.PNG) and LR (021L.PNG) side by side."""
    folder = tmp_path / "city"
    folder.mkdir()
    for name in ("021H.PNG", "021L.PNG", "022H.PNG", "022L.PNG"):
        (folder / name).symlink_to(city100_crops / name)
    config = StudyConfig(
        reference=folder,
        reference_pattern="*H.PNG",
        methods=(MethodSource(name="LR", directory=folder, pattern="*L.PNG"),),
        patches=4,
        patch_size=128,
    )
    db = tmp_path / "city.sqlite"
    build_study(config, db)
    stored = rows(
        db,
        "SELECT i.key, p.y, p.x, p.reference_png, t.png FROM patches p JOIN images i ON "
        "i.id = p.image_id JOIN trials t ON t.patch_id = p.id",
    )
    assert sorted(key for key, *_ in stored) == ["021", "021", "022", "022"]
    for key, y, x, reference_png, lr_png in stored:
        window = (slice(y, y + 128), slice(x, x + 128))
        np.testing.assert_array_equal(
            decode(reference_png), read_image(city100_crops / f"{key}H.PNG")[window]
        )
        lr = read_image(city100_crops / f"{key}L.PNG")[window]
        np.testing.assert_array_equal(decode(lr_png), lr)


def test_ensure_study_builds_once_then_checks(study_dirs, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with pytest.raises(ConfigError, match="s.sqlite: no such study"):
        ensure_study(db, None)
    ensure_study(db, study_config(study_dirs))
    study = Study(db)
    _, rater = study.create_rater()
    study.rate(rater, 0, 2)
    study.close()
    ensure_study(db, study_config(study_dirs))  # the same study: kept, ratings and all
    ensure_study(db, None)
    assert rows(db, "SELECT COUNT(*) FROM ratings") == [(1,)]
    with pytest.raises(ConfigError, match=r"holds a different study \(seed: 0 \(stored\) vs 3"):
        ensure_study(db, study_config(study_dirs, seed=3))
    ensure_study(db, study_config(study_dirs, seed=3), overwrite=True)
    assert rows(db, "SELECT COUNT(*) FROM ratings") == [(0,)]
