"""Atomic file output: write to a temporary file in the target directory, fsync, then rename.

A reader (or a crash) never sees a half-written file, and an existing file is only replaced
when the caller says so. A process killed mid-write leaves its temporary file behind; the
names follow one convention, `.NAME.PID.RANDOM.rwsr-tmp.EXT` (hidden, so folder listings skip
it; the writer's process id, so a later run can tell a leftover from a file being written),
and `sweep_temp_files` removes the leftovers.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from rwsr.errors import InputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


TEMP_TAG = ".rwsr-tmp"
# Leading dot, any name, the writer's pid, mkstemp's random part (no dots), the tag, the suffix.
_TEMP_NAME = re.compile(rf"\..*\.(?P<pid>\d{{1,9}})\.[^.]+{re.escape(TEMP_TAG)}(\.[^.]*)?")
# Bytes of the target's stem kept in a temporary name, so that it stays under the 255 bytes
# of a file name when the target itself just fits.
_TEMP_STEM_BYTES = 160

# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_NEW_FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`.

    The temporary name keeps the target's suffix so that libraries choosing a format by
    extension (OpenCV, safetensors, PIL) still work. On error the temporary file is removed
    and `target` is untouched.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise InputError(f"{target}: already exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.stem.encode()[:_TEMP_STEM_BYTES].decode(errors="ignore")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{stem}.{os.getpid()}.", suffix=f"{TEMP_TAG}{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the mode a normal open() would.
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else _NEW_FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(
    target: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(
    target: str | os.PathLike[str], text: str, *, overwrite: bool = False
) -> None:
    """Write `text` (UTF-8) to `target` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"), overwrite=overwrite)


def sweep_temp_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed processes left directly inside `directory`.

    Files of a process that is still running (another rwsr writing into the same folder) stay.
    Returns the removed paths.
    """
    removed: list[Path] = []
    if not Path(directory).is_dir():
        return removed
    for path in Path(directory).iterdir():
        match = _TEMP_NAME.fullmatch(path.name)
        if match and path.is_file() and not psutil.pid_exists(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
