"""`rwsr upscale` and `rwsr info` on the inputs of a bad-input sweep: one test per root cause.

Every refusal is one `error:` line without a traceback; bad options exit with 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.data.folders import list_images
from rwsr.models.checkpoint import save_model
from rwsr.models.rrdbnet import RRDBNet
from rwsr.upscale.batch import OutputNaming, plan_jobs


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args])
    return result.exit_code, result.output


def _upscale(model: Path, *args: str) -> tuple[int, str]:
    return _invoke("upscale", *args, "--model", str(model), "--quiet")


def _one_error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


def _leftover_of_a_killed_writer(target: Path) -> Path:
    """The temporary file a process killed with SIGKILL in the middle of `atomic_path` leaves."""
    script = (
        "import os, signal, sys\n"
        "from rwsr.atomic import atomic_path\n"
        "tmp = atomic_path(sys.argv[1]).__enter__()\n"
        "tmp.write_bytes(b'half a PNG')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(target)], check=False)
    (leftover,) = [path for path in target.parent.iterdir() if path.name.startswith(".")]
    return leftover


# ------------------------------------------------ 1. 8-bit TIFF: the input's tags over the output's


@pytest.mark.parametrize("kind", ["pillow-lzw", "cmyk", "tifffile-multipage"])
def test_8bit_tiff_round_trip_opens_with_its_own_size_and_mode(
    kind: str, photo_rgb: np.ndarray, tiny_model_file: Path, tmp_path: Path
) -> None:
    pixels = photo_rgb[:24, :20]
    source = tmp_path / f"{kind}.tif"
    if kind == "pillow-lzw":
        Image.fromarray(pixels).save(source, compression="tiff_lzw")
    elif kind == "cmyk":
        Image.fromarray(pixels).convert("CMYK").save(source)
    else:
        tifffile.imwrite(source, np.stack([pixels, pixels[::-1]]), photometric="rgb")
    code, output = _upscale(tiny_model_file, str(source), "-o", str(tmp_path / "out"))
    assert code == 0, output
    with Image.open(tmp_path / "out" / f"{kind}_x4.tif") as result:
        assert (result.size, result.mode) == ((80, 96), "RGB")
        assert np.asarray(result).shape == (96, 80, 3)


# ------------------------------------------------ 2. NaN/Inf weights: black images with a note


def test_nan_weights_are_an_error_naming_the_model_file(
    tiny_model: RRDBNet, photo_rgb: np.ndarray, tmp_path: Path
) -> None:
    with torch.no_grad():
        tiny_model.conv_last.weight.fill_(float("nan"))
    model_file = tmp_path / "broken.safetensors"
    save_model(tiny_model, model_file)
    Image.fromarray(photo_rgb[:16, :16]).save(tmp_path / "a.png")
    Image.fromarray(photo_rgb[16:32, :16]).save(tmp_path / "b.png")
    out = tmp_path / "out"
    code, output = _upscale(
        model_file, str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(out),
        "--precision", "fp32",
    )  # fmt: skip
    assert code == 1
    assert f"{model_file}: the model outputs NaN/Inf even in fp32" in _one_error_line(output)
    assert not out.exists()  # stopped at the first tile: no black images


# ------------------------------------------------ 3. temporary files and hidden files


def test_leftover_temp_files_and_resource_forks_are_not_inputs(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    leftover = _leftover_of_a_killed_writer(tmp_path / "a_x4.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    assert list_images(tmp_path) == [tmp_path / "a.png"]
    jobs, notes = plan_jobs([tmp_path], OutputNaming(directory=tmp_path / "out", suffix="_x4"))
    assert [job.source for job in jobs] == [tmp_path / "a.png"] and not notes
    assert leftover.name.endswith(".rwsr-tmp.png")


def test_next_run_sweeps_leftover_temp_files_of_killed_runs(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    """Output folder = input folder, as after `rwsr upscale photos -o photos` was killed."""
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    leftover = _leftover_of_a_killed_writer(tmp_path / "a_x4.png")
    running = tmp_path / f".b_x4.{os.getpid()}.abcd1234.rwsr-tmp.png"  # a live writer's
    running.write_bytes(b"being written")
    code, output = _upscale(tiny_model_file, str(tmp_path), "-o", str(tmp_path))
    assert code == 0, output
    assert f"removed {leftover}" in output
    assert {path.name for path in tmp_path.iterdir()} == {
        "a.png",
        "a_x4.png",
        "tiny.safetensors",
        running.name,  # its writer is alive
    }


# ------------------------------------------------ 4. output names that escape or do not fit


def test_suffix_is_a_plain_name_part_and_names_fit_255_bytes(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(source / "a.png")
    out = tmp_path / "deep" / "out"
    for suffix in ("/../../X", "\\..\\X", ".."):
        code, output = _upscale(tiny_model_file, str(source), "-o", str(out), "--suffix", suffix)
        assert code == 2 and "--suffix" in _one_error_line(output)
    code, output = _upscale(tiny_model_file, str(source), "-o", str(out), "--suffix", "s" * 300)
    assert code == 2 and "300 bytes" in _one_error_line(output)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(source / f"{'b' * 250}.png")
    code, output = _upscale(tiny_model_file, str(source), "-o", str(out))
    line = _one_error_line(output)
    assert code == 2 and "output name" in line and "255" in line
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["a.png", f"{'b' * 250}.png", "tiny.safetensors"]
    )  # nothing written, inside -o or outside it


# ------------------------------------------------ 5. option bounds


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-pixels", "nan"),
        ("--max-pixels", "inf"),
        ("--max-pixels", "0"),
        ("--outscale", "nan"),
    ],
)
def test_non_finite_or_zero_options_are_refused(
    option: str, value: str, tiny_model_file: Path, tmp_path: Path
) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    code, output = _upscale(tiny_model_file, str(tmp_path / "a.png"), option, value)
    assert code == 2 and f"error: {option} must be a positive number" in _one_error_line(output)


def test_outputs_above_the_pixel_limit_are_refused(tiny_model_file: Path, tmp_path: Path) -> None:
    """12x8 at --outscale 1000 is 96 MPix: above --max-pixels 1 at x4 (16 MPix), so refused
    before any allocation instead of an OpenCV trace."""
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(tmp_path / "a.png")
    code, output = _upscale(
        tiny_model_file, str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
        "--outscale", "1000", "--max-pixels", "1",
    )  # fmt: skip
    line = _one_error_line(output)
    assert code == 1 and "12000x8000 = 96.0 MPix, above the limit of 16.0 MPix" in line
    assert "--max-pixels" in line and "--outscale" in line


def test_info_scale_outside_the_supported_scales_is_an_error() -> None:
    code, output = _invoke("info", "rwsr-edl-x4", "--scale", "5")
    assert code == 2 and "--scale must be one of 1, 2, 3, 4, but got 5" in _one_error_line(output)
    code, output = _invoke("info", "rwsr-edl-x4", "--scale", "2")
    assert code == 2 and "a x4 architecture" in _one_error_line(output)


# ------------------------------------------------ 6. output folders that cannot be written


def test_read_only_output_folder_is_refused_before_any_work(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not make a folder read-only")
        code, output = _upscale(tiny_model_file, str(tmp_path / "a.png"), "-o", str(locked / "x"))
        assert code == 1 and f"{locked} is not writable" in _one_error_line(output)
        assert "upscaled" not in output
    finally:
        locked.chmod(0o755)


def test_file_or_too_long_name_as_output_folder_is_refused_before_any_work(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    for output_dir, problem in [
        (blocker, f"{blocker} is a file, not a folder"),
        (blocker / "out", f"{blocker} is a file, not a folder"),
        (tmp_path / ("n" * 300), "is 300 bytes; a file name holds at most 255"),
    ]:
        code, output = _upscale(tiny_model_file, str(tmp_path / "a.png"), "-o", str(output_dir))
        line = _one_error_line(output)
        assert code == 1 and line.startswith(f"error: -o {output_dir}: ") and problem in line
        assert "upscaled" not in output
