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
    for part in directory.parts:
        if len(os.fsencode(part)) > NAME_MAX_BYTES:
            raise InputError(
                f"{option} {directory}: the name '{part[:40]}...' is {len(os.fsencode(part))}"
                f" bytes; a file name holds at most {NAME_MAX_BYTES}"
            )
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{option} {directory}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {directory}: {existing} is not writable (read-only or permission denied)"
        )
