"""Where the SR image of a method comes from: a folder of results, a model run on the LR
image, or a baseline (MATLAB bicubic upsampling of the LR image; the LR image itself at x1).

Every method answers `image(sample)` with an HxWx3 array, or raises RwsrError with a
message that names the file; the runner records that as a problem of this image only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rwsr.errors import ConfigError, InputError
from rwsr.eval.samples import Sample, match_files
from rwsr.imageio import read_image

if TYPE_CHECKING:
    from rwsr.upscale.engine import Upscaler

BASELINES = ("auto", "bicubic", "identity", "none")


class Method(Protocol):
    name: str

    def image(self, sample: Sample) -> np.ndarray: ...


@dataclass
class FolderMethod:
    """Results already on disk: one file per test image, matched by name."""

    name: str
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def image(self, sample: Sample) -> np.ndarray:
        path = self.files.get(sample.name)
        if path is None:
            raise InputError(f"no image for {sample.name} in {self.folder}")
        return read_image(path)


def folder_method(name: str, folder: str | os.PathLike[str], samples: list[Sample]) -> FolderMethod:
    from rwsr.data.folders import list_images

    folder = Path(folder)
    files, _, notes = match_files(samples, list_images(folder, what=f"SR folder of {name}"))
    return FolderMethod(name=name, folder=folder, files=files, notes=notes)


def parse_sr_option(text: str) -> tuple[str, Path]:
    """`NAME=DIR` or `DIR` (the method is then named after the folder)."""
    name, sep, folder = text.partition("=")
    if not sep:
        return Path(text).name or text, Path(text)
    if not name or not folder:
        raise ConfigError(f"--sr expects NAME=DIR or DIR, but got {text!r}")
    return name, Path(folder)


def _lr(sample: Sample) -> np.ndarray:
    if sample.lr is None:
        raise InputError(f"{sample.name}: no LR image, which this method needs")
    return read_image(sample.lr)


@dataclass
class BicubicMethod:
    """LR upsampled by MATLAB's bicubic imresize (the usual baseline of Tables I-V)."""

    scale: int
    name: str = "Bicubic"

    def image(self, sample: Sample) -> np.ndarray:
        from rwsr.data.imresize import imresize

        return imresize(_lr(sample), float(self.scale))


@dataclass
class IdentityMethod:
    """The LR image itself: the baseline at x1 (CameraSR), where LR and HR share a size."""

    name: str = "LR (input)"

    def image(self, sample: Sample) -> np.ndarray:
        return _lr(sample)


@dataclass
class ModelMethod:
    """A generator run on the LR image with the tiling engine (any size, bounded memory)."""

    name: str
    upscaler: Upscaler

    def image(self, sample: Sample) -> np.ndarray:
        return self.upscaler.upscale(_lr(sample))


def baseline_method(choice: str, scale: int) -> Method | None:
    """The baseline named by --baseline (auto: bicubic above x1, the LR image at x1)."""
    if choice not in BASELINES:
        raise ConfigError(f"--baseline must be one of {', '.join(BASELINES)}, got {choice!r}")
    if choice == "none":
        return None
    if choice == "identity" or (choice == "auto" and scale == 1):
        return IdentityMethod()
    return BicubicMethod(scale=scale)
