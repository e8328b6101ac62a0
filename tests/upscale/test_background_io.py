"""Many files with the reader and writer in background threads (and, for comparison, without):
order, errors that name their file, nothing partial on disk, Ctrl-C and a broken model."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rwsr.errors import CheckpointError
from rwsr.imageio import read_image
from rwsr.upscale import batch
from rwsr.upscale.batch import Job, upscale_jobs
from rwsr.upscale.engine import Upscaler

MODES = pytest.mark.parametrize("background_io", [True, False], ids=["threads", "inline"])


def _photos(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = {}
    for index, name in enumerate(names):
        pixels[name] = np.random.default_rng(index).integers(0, 256, (6, 5 + index, 3), np.uint8)
        Image.fromarray(pixels[name]).save(folder / name)
    return pixels


def _jobs(source: Path, out: Path, names: list[str]) -> list[Job]:
    return [Job(source / name, out / f"{Path(name).stem}_x4.png") for name in names]


def _x4(pixels: np.ndarray) -> np.ndarray:
    return pixels.repeat(4, axis=0).repeat(4, axis=1)


def _io_threads_alive() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith(("rwsr-reader", "rwsr-writer"))
    ]


def _temporary_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if ".rwsr-tmp" in path.name]


@MODES
def test_results_keep_the_job_order_and_a_bad_file_is_named(
    nearest_model: torch.nn.Module, tmp_path: Path, background_io: bool
) -> None:
    names = ["a.png", "b.png", "c.png", "d.png", "e.png"]
    pixels = _photos(tmp_path / "in", names)
    data = (tmp_path / "in" / "b.png").read_bytes()
    (tmp_path / "in" / "b.png").write_bytes(data[: len(data) // 2])  # truncated
    jobs = _jobs(tmp_path / "in", tmp_path / "out", names)
    jobs[3].output.parent.mkdir()
    jobs[3].output.write_bytes(b"kept")  # d: exists, skipped
    upscaler = Upscaler(nearest_model, precision="fp32")
    results = upscale_jobs(
        upscaler, jobs, outscale=None, overwrite=False, quiet=True, background_io=background_io
    )
    assert [r.source.name for r in results] == names
    assert [r.status for r in results] == ["done", "failed", "done", "skipped", "done"]
    assert results[1].message.startswith(f"{tmp_path / 'in' / 'b.png'}: not a readable image")
    for name, job in zip(names, jobs):
        if name in ("a.png", "c.png", "e.png"):
            np.testing.assert_array_equal(read_image(job.output), _x4(pixels[name]))
    assert not jobs[1].output.exists() and jobs[3].output.read_bytes() == b"kept"
    assert not _io_threads_alive()


@MODES
def test_a_write_failing_half_way_leaves_nothing_and_names_the_file(
    nearest_model: torch.nn.Module,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    background_io: bool,
) -> None:
    names = ["a.png", "b.png", "c.png"]
    _photos(tmp_path / "in", names)
    jobs = _jobs(tmp_path / "in", tmp_path / "out", names)
    save = Image.Image.save

    def save_or_fail_half_way(image: Image.Image, target: Path, *args, **kwargs) -> None:
        if "b_x4" in Path(target).name:
            Path(target).write_bytes(b"\x89PNG half of a file")
            raise OSError(28, "No space left on device")
        save(image, target, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_or_fail_half_way)
    results = upscale_jobs(
        Upscaler(nearest_model, precision="fp32"),
        jobs,
        outscale=None,
        overwrite=False,
        quiet=True,
        background_io=background_io,
    )
    assert [r.status for r in results] == ["done", "failed", "done"]
    assert results[1].message.startswith(str(tmp_path / "in" / "b.png"))
    assert "No space left on device" in results[1].message
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a_x4.png", "c_x4.png"]
    assert not _temporary_files(tmp_path)


def test_warnings_stay_with_the_file_whose_task_raised_them(
    nearest_model: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warning of the reader thread (decoding the next file while the model works) lands in
    the message of the file it was decoding, not of the one being upscaled."""
    names = ["a.png", "b.png", "c.png"]
    _photos(tmp_path / "in", names)
    read = batch.read_image_file

    def read_with_a_warning(path: Path, **kwargs) -> object:
        if path.name == "b.png":
            warnings.warn("b's colour profile was odd", stacklevel=1)
        return read(path, **kwargs)

    monkeypatch.setattr(batch, "read_image_file", read_with_a_warning)
    results = upscale_jobs(
        Upscaler(nearest_model, precision="fp32"),
        _jobs(tmp_path / "in", tmp_path / "out", names),
        outscale=None,
        overwrite=False,
        quiet=True,
        background_io=True,
    )
    assert [r.message for r in results] == ["", "b's colour profile was odd", ""]


class _InterruptedOnThirdFile(torch.nn.Module):
    """Pixel replication x4 that raises KeyboardInterrupt (Ctrl-C) on its third call."""

    def __init__(self, nearest_model: torch.nn.Module) -> None:
        super().__init__()
        self.config = nearest_model.config
        self.unit = torch.nn.Parameter(torch.ones(1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return torch.nn.functional.interpolate(x * self.unit, scale_factor=4, mode="nearest")


def test_ctrl_c_stops_the_threads_and_keeps_only_whole_outputs(
    nearest_model: torch.nn.Module, tmp_path: Path
) -> None:
    names = ["a.png", "b.png", "c.png", "d.png"]
    pixels = _photos(tmp_path / "in", names)
    jobs = _jobs(tmp_path / "in", tmp_path / "out", names)
    upscaler = Upscaler(_InterruptedOnThirdFile(nearest_model), precision="fp32")
    with pytest.raises(KeyboardInterrupt):
        upscale_jobs(upscaler, jobs, outscale=None, overwrite=False, quiet=True, background_io=True)
    assert not _io_threads_alive()
    # a and b were upscaled before the interrupt; b's write, under way, was finished.
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a_x4.png", "b_x4.png"]
    for name in ("a.png", "b.png"):
        np.testing.assert_array_equal(
            read_image(tmp_path / "out" / f"{Path(name).stem}_x4.png"), _x4(pixels[name])
        )
    assert not _temporary_files(tmp_path)


def test_a_broken_model_stops_the_batch_and_the_threads(
    tiny_model: torch.nn.Module, tmp_path: Path
) -> None:
    with torch.no_grad():
        tiny_model.conv_last.weight.fill_(float("nan"))
    names = ["a.png", "b.png"]
    _photos(tmp_path / "in", names)
    upscaler = Upscaler(tiny_model, precision="fp32", model_name="broken.safetensors")
    with pytest.raises(CheckpointError, match="broken.safetensors: the model outputs NaN/Inf"):
        upscale_jobs(
            upscaler,
            _jobs(tmp_path / "in", tmp_path / "out", names),
            outscale=None,
            overwrite=False,
            quiet=True,
            background_io=True,
        )
    assert not _io_threads_alive()
    assert not (tmp_path / "out").exists()
