"""Checking where a command will write before it does any work.

A read-only folder, a file given as the output folder or a name the file system cannot hold
would otherwise fail once per output file, after the model has loaded and the first image
has been computed.
"""

from __future__ import annotations

import os
from pathlib import Path

from rwsr.errors import ConfigError, InputError

# The longest file name (one path component) of ext4, XFS, Btrfs, APFS and ZFS, in bytes.
NAME_MAX_BYTES = 255


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
    """Refuse an output folder that cannot be written: a name over 255 bytes, a file where a
    folder is needed, or no write permission where it is (or would be) created. Nothing is
    created here; the folder is made when the first file is written."""
    directory = Path(directory)
    _check_name_lengths(directory, option=option)
    _check_writable(directory, directory, option=option)


def check_output_file(
    path: str | os.PathLike[str], *, option: str = "-o", overwrite: bool = False
) -> None:
    """Refuse an output file before the work that makes it: a name over 255 bytes, a folder
    in its place, one that exists without `overwrite`, or a folder that cannot be written."""
    path = Path(path)
    _check_name_lengths(path, option=option)  # first: the file system cannot even look it up
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: already exists; pass --overwrite to replace it")
    _check_writable(path.parent, path, option=option)


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
