"""Upscaling many files: finding inputs, naming outputs, per-file errors and a summary.

One failing file never stops the batch; each file ends as done, skipped (output exists and
no --overwrite) or failed (with the reason), and the caller decides the exit status. A broken
model (NaN/Inf output) does stop it: every file would fail the same way.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from rwsr.atomic import sweep_temp_files
from rwsr.data.folders import is_listed_image
from rwsr.errors import CheckpointError, ConfigError, InputError, RwsrError
from rwsr.imageio import IMAGE_SUFFIXES, is_image_path, read_image_file, write_image_file
from rwsr.outputs import check_file_name, check_path_room
from rwsr.upscale.engine import Upscaler

OUTPUT_EXTENSIONS = ("auto", "png", "jpg", "webp", "tif", "bmp")
_WRITTEN_SUFFIXES = IMAGE_SUFFIXES - {".gif"}  # GIF is read, never written (see path_for)


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
    on_tile=None,
) -> FileResult:
    """Upscale one file; every expected failure becomes a failed result with a message."""
    if job.output.exists() and not overwrite:
        return FileResult(
            job.source, job.output, "skipped", f"{job.output} exists (use --overwrite)"
        )
    try:
        image = read_image_file(job.source, max_pixels=upscaler.max_pixels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pixels = upscaler.upscale(image.pixels, outscale=outscale, on_tile=on_tile)
        notes = list(dict.fromkeys(str(w.message) for w in caught))  # once each, not per tile
        notes += write_image_file(
            job.output,
            pixels,
            icc_profile=image.icc_profile,
            exif=image.exif,
            overwrite=overwrite,
            quality=quality,
        )
    except CheckpointError:
        raise
    except RwsrError as error:
        message = str(error)
        if str(job.source) not in message:
            message = f"{job.source}: {message}"
        return FileResult(job.source, None, "failed", message)
    except OSError as error:
        return FileResult(
            job.source,
            None,
            "failed",
            f"{job.source}: cannot write {job.output}: {error.strerror or error}",
        )
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
        return FileResult(
            job.source, None, "failed", f"{job.source}: unexpected {type(error).__name__}: {error}"
        )
    return FileResult(job.source, job.output, "done", "; ".join(notes))


def upscale_jobs(
    upscaler: Upscaler,
    jobs: list[Job],
    *,
    outscale: float | None,
    overwrite: bool,
    quality: int = 95,
    quiet: bool = False,
) -> list[FileResult]:
    """Upscale `jobs` in order with progress bars, after removing the temporary files that
    interrupted runs left in their output folders."""
    results: list[FileResult] = []
    for folder in sorted({job.output.parent for job in jobs}):
        for leftover in sweep_temp_files(folder):
            tqdm.write(f"note: removed {leftover}, left by an interrupted run", file=sys.stderr)
    with (
        tqdm(total=len(jobs), unit="img", desc="images", disable=quiet) as files_bar,
        tqdm(unit="tile", desc="tiles", leave=False, disable=quiet) as tiles_bar,
    ):

        def on_tile(done: int, total: int) -> None:
            if tiles_bar.total != total or done == 1:
                tiles_bar.reset(total=total)
            tiles_bar.update(1)

        for job in jobs:
            files_bar.set_postfix_str(job.source.name)
            result = upscale_file(
                upscaler,
                job,
                outscale=outscale,
                overwrite=overwrite,
                quality=quality,
                on_tile=on_tile,
            )
            if result.status != "done":
                tqdm.write(
                    f"{'error' if result.status == 'failed' else 'skipped'}: {result.message}",
                    file=sys.stderr,
                )
            elif result.message:
                tqdm.write(f"note: {result.source}: {result.message}", file=sys.stderr)
            results.append(result)
            files_bar.update(1)
    return results
