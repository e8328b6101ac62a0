"""Listing the images of a folder, with the errors a user needs when it is wrong."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rwsr.errors import InputError
from rwsr.imageio import IMAGE_SUFFIXES, is_image_path


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key that puts img2 before img10."""
    return tuple(
        int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)
    )


def is_listed_image(path: Path) -> bool:
    """Whether a file found in a folder is an input image. Hidden files are not: macOS's
    `._NAME.png` resource forks and the temporary files of unfinished writes (rwsr.atomic
    names them `.NAME.*.rwsr-tmp.png`) carry image suffixes but are no images to use."""
    return not path.name.startswith(".") and is_image_path(path)


def list_images(folder: str | os.PathLike[str], *, what: str = "image folder") -> list[Path]:
    """The image files directly inside `folder` (`is_listed_image`), naturally sorted.

    Raises InputError when the folder is missing, is a file, or holds no images.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder}: {what} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: {what} is not a directory")
    images = [path for path in folder.iterdir() if path.is_file() and is_listed_image(path)]
    if not images:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise InputError(f"{folder}: {what} holds no images (looked for {suffixes})")
    return sorted(images, key=natural_key)
