"""Checking where a command will write before it does any work.

A read-only folder, a file given as the output folder or a name or path the file system
cannot hold would otherwise fail once per output file, after the model has loaded and the
first image has been computed.
"""

from __future__ import annotations

import os
from pathlib import Path

from rwsr.errors import ConfigError, InputError

# The longest file name (one path component) of ext4, XFS, Btrfs, APFS and ZFS, in bytes.
NAME_MAX_BYTES = 255


def _path_max() -> int:
    """The longest path a system call takes, its final NUL included (PATH_MAX: 4096 on Linux,
    1024 on macOS); longer ones fail with "File name too long" whatever their parts."""
    try:
        return os.pathconf("/", "PC_PATH_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows) or no answer
        return 4096


PATH_MAX_BYTES = _path_max()
# Room a folder needs for the files rwsr writes in it: "/" and a file name (the temporary
# names of rwsr.atomic stay under NAME_MAX_BYTES as well).
_FILE_ROOM = 1 + NAME_MAX_BYTES
# Below an output folder the commands make subfolders, at most two deep (bank/png of ngdc).
_OUTPUT_DIR_ROOM = len("/bank/png") + _FILE_ROOM


def check_file_name(name: str, *, what: str) -> None:
    """Refuse `name` unless it is a plain part of a file name: no folder separators, not `.`
    or `..`, at most 255 bytes. `what` names it in the error (an option, an output)."""
    if any(separator in name for separator in ("/", "\\", "\0")) or name in {".", ".."}:
        raise ConfigError(
            f"{what} '{name}' must be a plain file name part, without '/', '\\' or '..'"
        )
    size = len(os.fsencode(name))
    if size > NAME_MAX_BYTES:
        raise ConfigError(
            f"{what} '{name[:40]}...' is {size} bytes; a file name holds at most {NAME_MAX_BYTES}"
        )


def check_output_dir(directory: str | os.PathLike[str], *, option: str = "-o") -> None:
    """Refuse an output folder that cannot be written: a name over 255 bytes, a path without
    room below PATH_MAX for the subfolders and files the commands write in it, a file where a
    folder is needed, or no write permission where it is (or would be) created. Nothing is
    created here; the folder is made when the first file is written."""
    directory = Path(directory)
    _check_name_lengths(directory, option=option)
    check_path_room(directory, what=option, room=_OUTPUT_DIR_ROOM)
    _check_writable(directory, directory, option=option)


def check_output_file(
    path: str | os.PathLike[str], *, option: str = "-o", overwrite: bool = False
) -> None:
    """Refuse an output file before the work that makes it: a name over 255 bytes, a folder
    without room below PATH_MAX for it, a folder in its place, one that exists without
    `overwrite`, or a folder that cannot be written."""
    path = Path(path)
    # First: the file system cannot even look these up.
    _check_name_lengths(path, option=option)
    check_path_room(path.parent, what=option, room=_FILE_ROOM)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: already exists; pass --overwrite to replace it")
    _check_writable(path.parent, path, option=option)


def check_path_room(folder: str | os.PathLike[str], *, what: str, room: int = _FILE_ROOM) -> None:
    """Refuse a folder whose absolute path leaves less than `room` bytes below PATH_MAX for
    what is written in it. `what` names it in the error (an option, an output)."""
    path = os.path.abspath(folder)
    size = len(os.fsencode(path))
    if size + room >= PATH_MAX_BYTES:
        raise InputError(
            f"{what} {path[:40]}...{path[-20:]}: the path is {size} bytes; at most"
            f" {PATH_MAX_BYTES - room - 1} leave room for the files written in it (the system"
            f" takes paths of up to {PATH_MAX_BYTES - 1})"
        )


def _check_name_lengths(path: Path, *, option: str) -> None:
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX_BYTES:
            raise InputError(
                f"{option} {path}: the name '{part[:40]}...' is {size} bytes; a file name"
                f" holds at most {NAME_MAX_BYTES}"
            )


def _check_writable(directory: Path, given: Path, *, option: str) -> None:
    """`directory` can hold new files: its first existing ancestor is a writable folder.
    Errors name `given`, the path the user typed, whose name lengths are already checked."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{option} {given}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {given}: {existing} is not writable (read-only or permission denied)"
        )
