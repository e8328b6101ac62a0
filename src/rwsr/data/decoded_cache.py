"""Decoded copies of training images as .npy files, read memory-mapped.

A PNG must be decoded whole even to cut one 128-pixel crop out of it, so for sets too large to
preload, decoding both images of a pair for every sample limits a DataLoader to a few dozen
samples/s per core. The cache stores each image once, uncompressed; a crop then reads only its
rows, from the page cache after the first epoch. Entries are keyed by the file's absolute path,
size and modification time, so an edited image gets a new entry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from rwsr.atomic import atomic_path
from rwsr.errors import InputError
from rwsr.imageio import read_image


def cached_image(path: Path, cache_dir: Path) -> np.ndarray:
    """The RGB array of `path` (as read_image gives it), memory-mapped from `cache_dir`."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    entry = cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.npy"
    if not entry.exists():
        image = read_image(path)
        with atomic_path(entry, overwrite=True) as tmp:  # workers may race: same content
            np.save(tmp, image)
    try:
        return np.load(entry, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise InputError(
            f"{entry}: unreadable cached copy of {path} ({error}); delete it"
        ) from None
