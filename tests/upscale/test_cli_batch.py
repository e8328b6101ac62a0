"""`rwsr upscale` on folders with good and bad files: per-file errors, summary, exit status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.imageio import read_image, write_image


def _photo(path: Path, size: tuple[int, int] = (12, 8)) -> None:
    rng = np.random.default_rng(len(path.name))
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["upscale", *args, "--quiet"])
    return result.exit_code, result.output


def test_bad_inputs_are_reported_and_the_rest_processed(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    (source / "nested").mkdir(parents=True)
    _photo(source / "good.png")
    _photo(source / "nested" / "deep.jpg")
    _photo(source / "big.png", size=(300, 200))
    Image.fromarray(np.full((1, 1, 3), 77, np.uint8)).save(source / "one.png")
    data = (source / "good.png").read_bytes()
    (source / "truncated.png").write_bytes(data[: len(data) // 2])
    (source / "empty.png").write_bytes(b"")
    (source / "text.png").write_text("not an image at all")
    (source / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    code, output = _invoke(
        str(source), "-o", str(out), "--model", str(tiny_model_file), "--max-pixels", "0.01"
    )
    assert code == 1
    assert (out / "good_x4.png").is_file()
    assert read_image(out / "good_x4.png").shape == (32, 48, 3)
    assert (out / "nested" / "deep_x4.jpg").is_file()  # folder structure kept
    assert read_image(out / "one_x4.png").shape == (4, 4, 3)  # 1x1 works
    assert f"{source / 'truncated.png'}: not a readable image" in output
    assert f"{source / 'empty.png'}: file is empty (0 bytes)" in output
    assert f"{source / 'text.png'}: not a readable image" in output
    assert f"{source / 'big.png'}: 300x200 = 0.1 MPix is above the limit" in output
    assert f"{source / 'notes.txt'}: skipped, not an image" in output
    assert "upscaled 3, skipped 0 (exist), failed 4" in output
    assert "Traceback" not in output
    assert not list(out.rglob(".*tmp*"))  # no temporary files left behind


def test_existing_outputs_are_never_overwritten_without_flag(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x4.png").write_bytes(b"precious")
    code, output = _invoke(str(tmp_path / "a.png"), "-o", str(out), "--model", str(tiny_model_file))
    assert code == 0 and "skipped 1" in output
    assert (out / "a_x4.png").read_bytes() == b"precious"
    code, _ = _invoke(
        str(tmp_path / "a.png"), "-o", str(out), "--model", str(tiny_model_file), "--overwrite"
    )
    assert code == 0 and read_image(out / "a_x4.png").shape == (32, 48, 3)


def test_outscale_suffix_and_ext(tiny_model_file: Path, tmp_path: Path) -> None:
    _photo(tmp_path / "a.png")
    code, output = _invoke(
        str(tmp_path / "a.png"),
        "-o",
        str(tmp_path / "o"),
        "--model",
        str(tiny_model_file),
        "--outscale",
        "2.5",
        "--ext",
        "jpg",
    )
    assert code == 0, output
    assert read_image(tmp_path / "o" / "a_x2.5.jpg").shape == (20, 30, 3)


def test_unknown_model_and_no_images(tmp_path: Path) -> None:
    code, output = _invoke(str(tmp_path), "--model", "no-such-model")
    assert code != 0 and "neither a zoo model nor a file" in output
    assert "realesrgan-x4plus" in output
    code, output = _invoke(str(tmp_path), "-o", str(tmp_path / "o"))
    assert code == 1 and "no images found" in output


def test_an_architecture_name_is_not_a_trained_model(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    code, output = _invoke(
        str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "rwsr-edl-x4"
    )
    assert code != 0 and "is an architecture (random weights" in output
    assert not (tmp_path / "o").exists()


def test_rerun_into_the_input_folder_skips_earlier_outputs(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    _photo(tmp_path / "a.png")
    for _ in range(2):
        code, output = _invoke(str(tmp_path), "-o", str(tmp_path), "--model", str(tiny_model_file))
        assert code == 0, output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["a.png", "a_x4.png"]
    assert "a_x4.png: skipped, it is the output of another input" in output


def test_a_symbolic_link_loop_is_one_failed_file(tiny_model_file: Path, tmp_path: Path) -> None:
    """A link to itself and two links to each other in an input folder: each is one failed
    file naming the loop, and the photos around them are upscaled."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    _photo(source / "a.png")
    _photo(source / "z.png")
    (source / "loop.png").symlink_to("loop.png")
    (source / "x.png").symlink_to("y.png")
    (source / "y.png").symlink_to("x.png")
    code, output = _invoke(str(source), "-o", str(out), "--model", str(tiny_model_file))
    assert code == 1
    assert sorted(path.name for path in out.iterdir()) == ["a_x4.png", "z_x4.png"]
    for name in ("loop.png", "x.png", "y.png"):
        assert f"{source / name}: cannot read file (Too many levels of symbolic links)" in output
    assert "upscaled 2, skipped 0 (exist), failed 3" in output
