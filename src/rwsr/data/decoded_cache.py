"""Decoded training images: decoded at every read, once into memory, or once into .npy files
that every read memory-maps.

A PNG must be decoded whole even to cut one 128-pixel crop out of it: a 2K photo takes
30-40 ms, so decoding per sample limits a DataLoader worker to a few dozen samples/s. Modes:

- none: every read decodes the file (no memory or disk to spare).
- memory: every image decoded once, up front, on threads; DataLoader workers forked later
  share the arrays copy-on-write, but every DDP process holds its own copy.
- disk: every image decoded once into `cache_dir` as an uncompressed .npy file, written
  atomically; a read memory-maps it, so a crop touches only its rows, and every worker and
  process of the machine shares the pages the OS keeps of it. An entry is named by the
  file's absolute path and its size and modification time: an edited image gets a new entry,
  which replaces the old one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import platformdirs

from rwsr.atomic import atomic_path
from rwsr.errors import InputError
from rwsr.imageio import image_size, read_image

CacheMode = Literal["memory", "disk", "none"]


def default_cache_dir() -> Path:
    """Where the disk cache lives unless a folder is given: beside the model zoo's downloads
    ($RWSR_CACHE_DIR, else the user's cache folder)."""
    return Path(os.environ.get("RWSR_CACHE_DIR") or platformdirs.user_cache_dir("rwsr")) / "decoded"


def decoded_bytes(paths: Iterable[Path]) -> int:
    """The size of the images decoded as 8-bit RGB, from their headers (nothing decoded)."""
    return sum(width * height * 3 for width, height in map(image_size, paths))


def _decode_threads() -> int:
    return min(8, os.cpu_count() or 1)  # the PNG decoder releases the GIL


class DecodedImages:
    """The RGB arrays of image files (`paths`, each once), as read_image gives them, kept as
    `mode` says.

    `first`: where in `paths` the disk cache starts filling; DDP processes start at their
    share of the list, so that each decodes other images than the others (an entry that
    another process wrote in the meantime is skipped; two writing one entry write the same).
    """

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        mode: CacheMode = "none",
        cache_dir: Path | None = None,
        first: int = 0,
    ) -> None:
        self.paths = list(paths)
        self.mode = mode
        self.cache_dir = cache_dir or default_cache_dir()
        self._arrays: dict[Path, np.ndarray] = {}
        self._entries: dict[Path, tuple[Path, np.dtype, tuple[int, ...], int]] = {}
        if mode == "memory":
            with ThreadPoolExecutor(_decode_threads()) as pool:
                self._arrays = dict(zip(self.paths, pool.map(read_image, self.paths), strict=True))
            self._sizes = {path: array.shape[:2] for path, array in self._arrays.items()}
        elif mode == "disk":
            order = self.paths[first:] + self.paths[:first]
            with ThreadPoolExecutor(_decode_threads()) as pool:
                self._entries = dict(zip(order, pool.map(self._entry, order), strict=True))
            self._sizes = {path: shape[:2] for path, (_, _, shape, _) in self._entries.items()}
        elif mode == "none":
            self._sizes = {path: image_size(path)[::-1] for path in self.paths}
        else:
            raise ValueError(f"Expected cache mode 'memory', 'disk' or 'none', but got {mode!r}")

    def size(self, path: Path) -> tuple[int, int]:
        """(height, width) of `path`, known without reading its pixels."""
        return self._sizes[path]

    def read(self, path: Path) -> np.ndarray:
        """The array of `path`: decoded (none), kept (memory) or memory-mapped (disk)."""
        if self.mode == "memory":
            return self._arrays[path]
        if self.mode == "none":
            return read_image(path)
        entry, dtype, shape, offset = self._entries[path]
        # Mapped per read: a mapping held open per image would hold a file descriptor each.
        return np.memmap(entry, dtype=dtype, mode="r", offset=offset, shape=shape)

    def describe(self) -> str:
        if self.mode == "none":
            return "decoded at every read"
        if self.mode == "memory":
            size = sum(array.nbytes for array in self._arrays.values())
            return f"decoded once, in memory ({size / 2**20:.0f} MiB per process)"
        size = sum(
            int(np.prod(shape)) * dtype.itemsize for _, dtype, shape, _ in self._entries.values()
        )
        return (
            f"decoded once, memory-mapped from {self.cache_dir} ({len(self._entries)} files,"
            f" {size / 2**20:.0f} MiB)"
        )

    def _entry(self, path: Path) -> tuple[Path, np.dtype, tuple[int, ...], int]:
        """The cache file of `path` (written if missing) and where its array lies in it."""
        stat = path.stat()
        name = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20]
        version = hashlib.sha1(f"{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        entry = self.cache_dir / f"{name}.{version}.npy"
        if not entry.exists():
            image = read_image(path)
            try:
                with atomic_path(entry, overwrite=True) as tmp:
                    np.save(tmp, image)
            except OSError as error:
                raise InputError(
                    f"{self.cache_dir}: cannot write the decoded copy of {path}"
                    f" ({error.strerror or error}); free space there or choose another folder"
                    " (data.cache_dir)"
                ) from None
            for stale in self.cache_dir.glob(f"{name}.*.npy"):  # the copies of older versions
                if stale != entry:
                    stale.unlink(missing_ok=True)
        try:
            array = np.load(entry, mmap_mode="r")
        except (OSError, ValueError) as error:
            raise InputError(
                f"{entry}: unreadable decoded copy of {path} ({error}); delete it"
            ) from None
        if array.ndim != 3 or array.shape[2] != 3:
            raise InputError(f"{entry}: holds shape {array.shape}, not an RGB image; delete it")
        return entry, array.dtype, array.shape, array.offset
