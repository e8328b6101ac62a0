"""Upscaling many files: finding inputs, naming outputs, per-file errors and a summary.

One failing file never stops the batch; each file ends as done, skipped (output exists and
no --overwrite) or failed (with the reason), and the caller decides the exit status. A broken
model (NaN/Inf output) does stop it: every file would fail the same way.

When the model runs off the CPU (on a GPU), files are decoded and encoded in two background
threads while it works: a reader decodes the next file and a writer encodes the previous
output, one file each, so at most two inputs and two outputs are in memory. Results and
messages keep the order of the jobs, and a warning goes with the file whose task raised it.
Ctrl-C or a broken model drops what was read ahead and lets the writer finish the file it is
writing (written atomically: complete or absent).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, ParamSpec, TextIO, TypeVar

import numpy as np
from tqdm import tqdm

from rwsr.atomic import sweep_temp_files
from rwsr.data.folders import is_listed_image
from rwsr.errors import CheckpointError, ConfigError, InputError, RwsrError
from rwsr.imageio import (
    IMAGE_SUFFIXES,
    ImageFile,
    is_image_path,
    read_image_file,
    write_image_file,
)
from rwsr.outputs import check_file_name, check_path_room
from rwsr.upscale.engine import TileCallback, Upscaler

OUTPUT_EXTENSIONS = ("auto", "png", "jpg", "webp", "tif", "bmp")
_WRITTEN_SUFFIXES = IMAGE_SUFFIXES - {".gif"}  # GIF is read, never written (see path_for)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass(frozen=True)
class FileResult:
    source: Path
    output: Path | None
    status: Literal["done", "skipped", "failed"]
    message: str = ""


@dataclass(frozen=True)
class OutputNaming:
    directory: Path
    suffix: str
    extension: str = "auto"

    def __post_init__(self) -> None:
        if self.extension not in OUTPUT_EXTENSIONS:
            raise ConfigError(
                f"--ext must be one of {', '.join(OUTPUT_EXTENSIONS)}, not '{self.extension}'"
            )
        check_file_name(self.suffix, what="--suffix")

    def path_for(self, source: Path, relative_dir: Path) -> Path:
        """Output path; `auto` keeps the input's format where rwsr writes it (GIF, a 256-colour
        palette, becomes PNG rather than losing colours)."""
        extension = source.suffix.lower() if self.extension == "auto" else f".{self.extension}"
        if extension not in _WRITTEN_SUFFIXES:
            extension = ".png"
        return self.directory / relative_dir / f"{source.stem}{self.suffix}{extension}"


def default_suffix(factor: float) -> str:
    return f"_x{factor:g}"


def plan_jobs(inputs: list[Path], naming: OutputNaming) -> tuple[list[Job], list[str]]:
    """Jobs for the given files and the images found recursively in the given folders,
    keeping each folder's sub-structure under the output directory. Returns the jobs and
    warnings for what was skipped. An output folder inside an input folder is not walked, and
    a file that is another input's output (a rerun with -o on the input folder) is skipped.
    Hidden files in folders are not inputs (`is_listed_image`). An output name or folder the
    file system cannot hold is an error here, before any work."""
    jobs: list[Job] = []
    notes: list[str] = []
    output_root = _real_path(naming.directory)
    image_types = ", ".join(sorted(IMAGE_SUFFIXES))
    for given in inputs:
        if given.is_file() and is_image_path(given):
            jobs.append(Job(given, naming.path_for(given, Path())))
        elif given.is_file():  # the same suffixes as in folders
            notes.append(f"{given}: skipped, not an image ({image_types})")
        elif given.is_dir():
            for root, dirs, files in os.walk(given):
                dirs[:] = sorted(d for d in dirs if _real_path(Path(root) / d) != output_root)
                for name in sorted(files):
                    path = Path(root) / name
                    if is_listed_image(path):
                        jobs.append(
                            Job(path, naming.path_for(path, path.parent.relative_to(given)))
                        )
                    elif not name.startswith("."):
                        notes.append(f"{path}: skipped, not an image ({image_types})")
        else:
            notes.append(f"{given}: skipped, no such file or folder")
    planned = {_real_path(job.output) for job in jobs}
    earlier = [job for job in jobs if _real_path(job.source) in planned]
    notes += [f"{job.source}: skipped, it is the output of another input" for job in earlier]
    jobs = [job for job in jobs if _real_path(job.source) not in planned]
    outputs: dict[Path, Path] = {}
    for job in jobs:
        check_file_name(job.output.name, what=f"{job.source}: output name")
        check_path_room(job.output.parent, what=f"{job.source}: output folder")
        if job.output in outputs:
            raise InputError(
                f"{job.source} and {outputs[job.output]} would both be written to {job.output}"
            )
        outputs[job.output] = job.source
    return jobs, notes


def _real_path(path: Path) -> Path:
    """The path with symbolic links resolved as far as they go. A symbolic link loop in an input
    folder makes Path.resolve raise (RuntimeError before Python 3.13) and end the whole batch;
    left unresolved here, reading it fails as that one file."""
    return Path(os.path.realpath(path))


def upscale_file(
    upscaler: Upscaler,
    job: Job,
    *,
    outscale: float | None,
    overwrite: bool,
    quality: int = 95,
    on_tile: TileCallback | None = None,
) -> FileResult:
    """Upscale one file; every expected failure becomes a failed result with a message."""
    if job.output.exists() and not overwrite:
        return _skipped(job)
    with _warnings_as_notes():
        try:
            image, read_notes = _noting(read_image_file, job.source, max_pixels=upscaler.max_pixels)
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
            return _failed(job, error, "read")
        return _upscale_and_write(
            upscaler,
            job,
            image,
            read_notes,
            _InlineExecutor(),
            outscale,
            overwrite,
            quality,
            on_tile,
        ).result()


def upscale_jobs(
    upscaler: Upscaler,
    jobs: list[Job],
    *,
    outscale: float | None,
    overwrite: bool,
    quality: int = 95,
    quiet: bool = False,
    background_io: bool | None = None,
) -> list[FileResult]:
    """Upscale `jobs` in order with progress bars, after removing the temporary files that
    interrupted runs left in their output folders. background_io: decode and encode in
    background threads (module docstring); None = where the model runs off the CPU (on the
    CPU the model's threads already use every core)."""
    results: list[FileResult] = []
    for folder in sorted({job.output.parent for job in jobs}):
        for leftover in sweep_temp_files(folder):
            tqdm.write(f"note: removed {leftover}, left by an interrupted run", file=sys.stderr)
    if background_io is None:
        background_io = upscaler.device.type != "cpu"
    with (
        tqdm(total=len(jobs), unit="img", desc="images", disable=quiet) as files_bar,
        tqdm(unit="tile", desc="tiles", leave=False, disable=quiet) as tiles_bar,
        _warnings_as_notes(),
        _io_threads(background_io) as (reader, writer),
    ):

        def on_tile(done: int, total: int) -> None:
            if tiles_bar.total != total or done == 1:
                tiles_bar.reset(total=total)
            tiles_bar.update(1)

        def report(result: FileResult) -> None:
            if result.status != "done":
                tqdm.write(
                    f"{'error' if result.status == 'failed' else 'skipped'}: {result.message}",
                    file=sys.stderr,
                )
            elif result.message:
                tqdm.write(f"note: {result.source}: {result.message}", file=sys.stderr)
            results.append(result)
            files_bar.update(1)

        writing: Future[FileResult] | None = None  # the previous file's output, being encoded
        ahead = 1 if background_io else 0
        for job, read in _reads(reader, jobs, ahead, upscaler.max_pixels, overwrite):
            files_bar.set_postfix_str(job.source.name)
            if read is None:
                outcome = _finished(_skipped(job))
            else:
                try:
                    image, read_notes = read.result()
                except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
                    outcome = _finished(_failed(job, error, "read"))
                else:
                    outcome = _upscale_and_write(
                        upscaler, job, image, read_notes, writer, outscale, overwrite, quality,
                        on_tile,
                    )  # fmt: skip
            if writing is not None:  # one output in the writer at a time
                report(writing.result())
            writing = outcome
        if writing is not None:
            report(writing.result())
    return results


def _upscale_and_write(
    upscaler: Upscaler,
    job: Job,
    image: ImageFile,
    read_notes: list[str],
    writer: Executor,
    outscale: float | None,
    overwrite: bool,
    quality: int,
    on_tile: TileCallback | None,
) -> Future[FileResult]:
    """Upscale a decoded file here and hand its output to `writer`: the future of the file's
    result. A broken model (CheckpointError) raises."""
    try:
        pixels, notes = _noting(upscaler.upscale, image.pixels, outscale=outscale, on_tile=on_tile)
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
        return _finished(_failed(job, error, "upscale"))
    return writer.submit(_write, job, image, pixels, read_notes + notes, overwrite, quality)


def _write(
    job: Job,
    image: ImageFile,
    pixels: np.ndarray,
    notes: list[str],
    overwrite: bool,
    quality: int,
) -> FileResult:
    """Encode and write one output atomically; its result, done or failed."""
    try:
        format_notes, write_warnings = _noting(
            write_image_file,
            job.output,
            pixels,
            icc_profile=image.icc_profile,
            exif=image.exif,
            overwrite=overwrite,
            quality=quality,
        )
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
        return _failed(job, error, "write")
    notes = list(dict.fromkeys([*notes, *write_warnings, *format_notes]))  # once each
    return FileResult(job.source, job.output, "done", "; ".join(notes))


def _skipped(job: Job) -> FileResult:
    return FileResult(job.source, job.output, "skipped", f"{job.output} exists (use --overwrite)")


def _failed(job: Job, error: Exception, stage: Literal["read", "upscale", "write"]) -> FileResult:
    """A failed result whose message names the input file."""
    if isinstance(error, RwsrError):
        message = str(error)
        if str(job.source) not in message:
            message = f"{job.source}: {message}"
    elif isinstance(error, OSError):
        what = f" {job.output}" if stage == "write" else ""
        message = f"{job.source}: cannot {stage}{what}: {error.strerror or error}"
    else:
        message = f"{job.source}: unexpected {type(error).__name__}: {error}"
    return FileResult(job.source, None, "failed", message)


def _finished(result: FileResult) -> Future[FileResult]:
    future: Future[FileResult] = Future()
    future.set_result(result)
    return future


def _reads(
    reader: Executor, jobs: list[Job], ahead: int, max_pixels: int, overwrite: bool
) -> Iterator[tuple[Job, Future[tuple[ImageFile, list[str]]] | None]]:
    """Each job with the future of its decoded file and the file's warnings (None: its output
    exists and is kept), the next `ahead` files' decoding started before it is handed out."""
    started: dict[int, Future[tuple[ImageFile, list[str]]] | None] = {}
    for index, job in enumerate(jobs):
        for upcoming in range(index, min(index + ahead + 1, len(jobs))):
            if upcoming not in started:
                planned = jobs[upcoming]
                started[upcoming] = (
                    None
                    if planned.output.exists() and not overwrite
                    else reader.submit(
                        _noting, read_image_file, planned.source, max_pixels=max_pixels
                    )
                )
        yield job, started.pop(index)


@contextlib.contextmanager
def _io_threads(background: bool) -> Iterator[tuple[Executor, Executor]]:
    """A reader and a writer: one background thread each, or both running each task at once
    in the caller's thread. On leaving, reads not yet started are dropped and the task in
    progress ends (a write is atomic), also on Ctrl-C."""
    if not background:
        yield _InlineExecutor(), _InlineExecutor()
        return
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rwsr-reader")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rwsr-writer")
    try:
        yield reader, writer
    finally:
        reader.shutdown(cancel_futures=True)
        writer.shutdown(cancel_futures=True)


class _InlineExecutor(Executor):
    """Runs each task at once in the caller's thread: the pipeline without threads."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(error)
        return future


class _TaskNotes(threading.local):
    """Per thread, the list that collects the warnings of the file task running there."""

    notes: list[str] | None = None


_task_notes = _TaskNotes()


def _noting(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> tuple[R, list[str]]:
    """work(*args, **kwargs) and the warnings it raised (inside `_warnings_as_notes`)."""
    notes: list[str] = []
    _task_notes.notes = notes
    try:
        return work(*args, **kwargs), notes
    finally:
        _task_notes.notes = None


@contextlib.contextmanager
def _warnings_as_notes() -> Iterator[None]:
    """Route every warning, in any thread, to the notes of the file task that raised it (a
    thread without one shows it as usual). One catch_warnings for the whole batch, entered
    before the reader and writer start: it changes process-wide state, so a context per file
    and thread would restore each other's settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        show = warnings.showwarning

        def note(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if _task_notes.notes is None:
                show(message, category, filename, lineno, file, line)
            else:
                _task_notes.notes.append(str(message))

        warnings.showwarning = note
        yield
