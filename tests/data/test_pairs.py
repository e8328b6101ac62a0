"""Pair generation (Eq. 9-10): the maths on real photos, `rwsr pairs` as a batch tool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import rwsr.data.pairs as pairs_module
from rwsr.cli.main import app
from rwsr.data.imresize import imresize
from rwsr.data.pairs import PairsConfig, lr_window, make_pair
from rwsr.errors import InputError
from rwsr.imageio import read_image, write_image


def test_pair_is_two_matlab_bicubic_shrinks_with_hr_cropped_to_the_scale(
    photo_rgb: np.ndarray,
) -> None:
    source = photo_rgb[:203, :250]  # odd sizes: clean-up gives 102 x 125, cropped to 100 x 124
    hr, lr = make_pair(source, config=PairsConfig(scale=4, cleanup=2))
    assert hr.shape == (100, 124, 3) and lr.shape == (25, 31, 3)
    assert hr.dtype == lr.dtype == np.uint8
    assert np.array_equal(hr, imresize(source, 0.5)[:100, :124])
    assert np.array_equal(lr, imresize(hr, 0.25))
    clean_hr, _ = make_pair(source, config=PairsConfig(scale=4, cleanup=1))
    assert np.array_equal(clean_hr, source[:200, :248])


def test_sixteen_bit_sources_stay_sixteen_bit(photo_rgb: np.ndarray) -> None:
    source = photo_rgb.astype(np.uint16) * 257
    hr, lr = make_pair(source)
    assert hr.dtype == lr.dtype == np.uint16
    eight_hr, _ = make_pair(photo_rgb)
    assert np.abs(hr / 257.0 - eight_hr).max() < 1.5  # 8-bit rounds twice, by <= 0.5 each


def test_too_small_source_is_an_input_error() -> None:
    with pytest.raises(InputError, match="too small for clean-up x2 and scale x4"):
        make_pair(np.zeros((5, 5, 3), np.uint8))


@pytest.fixture
def sources(photo_rgb: np.ndarray, tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    for k in range(4):
        write_image(
            folder / f"img{k}.png", np.ascontiguousarray(photo_rgb[k * 16 : k * 16 + 96, :120])
        )
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["pairs", *args, "--workers", "1", "--no-progress"])
    return result.exit_code, result.output


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_cli_writes_pairs_reports_broken_files_and_resumes(sources: Path, tmp_path: Path) -> None:
    (sources / "broken.png").write_bytes(b"definitely not a png")
    out = tmp_path / "out"
    code, output = run(str(sources), "-o", str(out))
    assert code == 1
    assert "broken.png: not a readable image" in output
    assert "4 pairs written, 0 already done, 1 failed" in output
    assert read_image(out / "HR" / "img0.png").shape == (48, 60, 3)
    assert read_image(out / "LR" / "img0.png").shape == (12, 15, 3)
    (sources / "broken.png").unlink()
    code, output = run(str(sources), "-o", str(out))
    assert code == 0 and "0 pairs written, 4 already done" in output
    code, output = run(str(sources), "-o", str(out), "--scale", "2")
    assert code == 2 and "other settings (scale: 4 -> 2)" in output


def test_interrupted_run_resumes_to_the_same_files(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = run(str(sources), "-o", str(tmp_path / "whole"))
    assert code == 0
    original = pairs_module.write_pair
    calls = {"n": 0}

    def interrupted(*args: object, **kwargs: object) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pairs_module, "write_pair", interrupted)
    CliRunner().invoke(
        app,
        ["pairs", str(sources), "-o", str(tmp_path / "resumed"), "--workers", "1", "--no-progress"],
    )
    assert len(folder_bytes(tmp_path / "resumed")) == 4  # two pairs done when interrupted
    monkeypatch.setattr(pairs_module, "write_pair", original)
    code, output = run(str(sources), "-o", str(tmp_path / "resumed"))
    assert code == 0 and "2 pairs written, 2 already done" in output
    assert folder_bytes(tmp_path / "resumed") == folder_bytes(tmp_path / "whole")


def test_lone_half_pair_is_completed_but_foreign_content_is_never_replaced(
    sources: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(str(sources), "-o", str(out))
    (out / "LR" / "img1.png").unlink()  # crash between the HR and the LR write
    code, output = run(str(sources), "-o", str(out))
    assert code == 0 and "1 pairs written, 3 already done" in output
    (out / "LR" / "img2.png").unlink()
    write_image(out / "HR" / "img2.png", np.zeros((48, 60, 3), np.uint8), overwrite=True)
    code, output = run(str(sources), "-o", str(out))
    assert code == 1 and "img2.png: already exists with other content" in output
    code, output = run(str(sources), "-o", str(out), "--overwrite")
    assert code == 0 and "4 pairs written" in output


def test_empty_source_and_foreign_output_folders_are_refused(tmp_path: Path, sources: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = run(str(tmp_path / "empty"), "-o", str(tmp_path / "out"))
    assert code == 1 and "holds no images" in output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code, output = run(str(sources), "-o", str(tmp_path / "busy"))
    assert code == 1 and "holds files that no `rwsr pairs` run made" in output


def test_x1_pair_loses_the_detail_of_a_x2_camera_at_the_hr_size(photo_rgb: np.ndarray) -> None:
    source = photo_rgb[:203, :250]  # an odd side is cut to a multiple of the blur, 202
    hr, lr = make_pair(source, config=PairsConfig(scale=1, cleanup=1, x1_blur=2))
    assert np.array_equal(hr, source[:202])
    assert lr.shape == hr.shape and lr.dtype == hr.dtype
    assert not np.array_equal(lr, hr)
    assert np.array_equal(lr, imresize(imresize(hr, 0.5), size=hr.shape[:2]))
    _, same = make_pair(source, config=PairsConfig(scale=1, cleanup=1, x1_blur=1))
    assert np.array_equal(same, source)
    _, x4 = make_pair(source, config=PairsConfig(scale=4, cleanup=1, x1_blur=3))
    assert np.array_equal(x4, imresize(source[:200, :248], 0.25))  # scale > 1: unchanged


@pytest.mark.parametrize(("scale", "x1_blur"), [(4, 2), (3, 2), (2, 2), (1, 2), (1, 3), (1, 1)])
def test_an_lr_window_made_from_the_hr_around_it_is_the_whole_lr_cropped(
    photo_rgb: np.ndarray, scale: int, x1_blur: int
) -> None:
    """Windows at the photo's corners and inside it equal the whole photo's LR cropped, value
    for value: the HR margin covers the reach of the bicubic kernels."""
    config = PairsConfig(scale=scale, cleanup=1, x1_blur=x1_blur)
    hr, lr = make_pair(photo_rgb[:203, :250], config=config)
    size = 12 if scale > 1 else 24
    last_top, last_left = lr.shape[0] - size, lr.shape[1] - size
    rng = np.random.default_rng(scale * 10 + x1_blur)
    inner = zip(rng.integers(0, last_top + 1, 12), rng.integers(0, last_left + 1, 12), strict=True)
    for top, left in [(0, 0), (last_top, last_left), (0, last_left), *inner]:
        window = lr_window(hr, int(top), int(left), size, config=config)
        assert np.array_equal(window, lr[top : top + size, left : left + size]), (top, left)
    if config.hr_multiple > 1:
        with pytest.raises(ValueError, match="Expected make_pair's HR"):
            lr_window(photo_rgb[:203, :250], 0, 0, size, config=config)  # not cut to whole steps


def test_cli_x1_blur_option_makes_same_size_pairs(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run(str(sources), "-o", str(out), "--scale", "1", "--cleanup", "1")
    assert code == 0, output
    hr, lr = read_image(out / "HR" / "img0.png"), read_image(out / "LR" / "img0.png")
    assert hr.shape == lr.shape == (96, 120, 3) and not np.array_equal(hr, lr)
    code, output = run(
        str(sources), "-o", str(out), "--scale", "1", "--cleanup", "1", "--x1-blur", "1"
    )
    assert code == 2 and "x1_blur: 2 -> 1" in output


def test_overwrite_removes_the_earlier_runs_pairs_but_no_other_file(
    sources: Path, photo_rgb: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run(str(sources), "-o", str(out))[0] == 0
    (out / "notes.txt").write_text("mine")
    other = tmp_path / "other"
    write_image(other / "new.png", np.ascontiguousarray(photo_rgb[:64, :64]))
    code, output = run(str(other), "-o", str(out), "--overwrite", "--cleanup", "1")
    assert code == 0 and "1 pairs written" in output
    assert sorted(folder_bytes(out)) == ["HR/new.png", "LR/new.png"]
    assert (out / "notes.txt").read_text() == "mine"
    code, output = run(str(other), "-o", str(out), "--cleanup", "1")
    assert code == 0 and "0 pairs written, 1 already done" in output


def test_overwrite_never_removes_a_users_own_files_beside_the_pairs(
    sources: Path, photo_rgb: np.ndarray, tmp_path: Path
) -> None:
    """A folder whose HR/ holds the user's own image and notes: --overwrite writes the pairs
    beside them, and a later --overwrite removes those pairs (what the record lists) only."""
    out = tmp_path / "out"
    write_image(out / "HR" / "precious.png", np.full((8, 8, 3), 200, np.uint8))
    (out / "HR" / "notes.txt").write_text("mine")
    mine = (out / "HR" / "precious.png").read_bytes()
    code, output = run(str(sources), "-o", str(out), "--overwrite")
    assert code == 0 and "4 pairs written" in output
    other = tmp_path / "other"
    write_image(other / "new.png", np.ascontiguousarray(photo_rgb[:64, :64]))
    code, output = run(str(other), "-o", str(out), "--overwrite")
    assert code == 0 and "1 pairs written" in output
    assert sorted(folder_bytes(out)) == ["HR/new.png", "HR/precious.png", "LR/new.png"]
    assert (out / "HR" / "precious.png").read_bytes() == mine
    assert (out / "HR" / "notes.txt").read_text() == "mine"


def test_overwrite_refuses_sources_that_link_to_its_pairs_before_removing_any(
    sources: Path, tmp_path: Path
) -> None:
    """Sources that are symbolic links to the earlier run's HR files: --overwrite removed
    those files first, and then every pair failed with "cannot read file"."""
    out = tmp_path / "out"
    assert run(str(sources), "-o", str(out))[0] == 0
    links = tmp_path / "links"
    links.mkdir()
    for path in (out / "HR").iterdir():
        (links / path.name).symlink_to(path)
    before = folder_bytes(out)
    code, output = run(str(links), "-o", str(out), "--overwrite", "--cleanup", "1")
    assert code == 2
    assert f"{links / 'img0.png'}: input images lie in the output folder {out}" in output
    assert folder_bytes(out) == before


def test_sources_inside_the_output_folders_are_refused(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(str(sources), "-o", str(out))[0] == 0
    before = folder_bytes(out)
    code, output = run(str(out / "HR"), "-o", str(out), "--overwrite")
    assert code == 2 and "input images lie in the output folder" in output
    assert folder_bytes(out) == before


def test_unusable_output_folder_is_refused_before_any_pair(
    tmp_path: Path, unusable_output: tuple[Path, str]
) -> None:
    out, problem = unusable_output
    write_image(tmp_path / "src" / "a.png", np.full((32, 32, 3), 90, np.uint8))
    code, output = run(str(tmp_path / "src"), "-o", str(out))
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert "pairs written" not in output


def test_exif_orientation_of_a_source_is_applied(tmp_path: Path) -> None:
    """A JPEG stored 40x24 with orientation 6 is a 24x40 portrait; so are its pairs."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "src" / "portrait.jpg"
    source.parent.mkdir()
    Image.fromarray(np.full((24, 40, 3), 120, np.uint8)).save(source, exif=exif.tobytes())
    assert read_image(source).shape == (40, 24, 3)
    code, output = run(str(source.parent), "-o", str(tmp_path / "out"), "--cleanup", "1")
    assert code == 0, output
    assert read_image(tmp_path / "out" / "HR" / "portrait.png").shape == (40, 24, 3)
    assert read_image(tmp_path / "out" / "LR" / "portrait.png").shape == (10, 6, 3)
