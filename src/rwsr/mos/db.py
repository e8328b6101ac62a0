"""The study database: one SQLite file holding the config, the patches and every rating.

Patches are stored as PNG blobs, so the file is the whole study (the source folders may
move) and the web app never touches the file system on a client's behalf. WAL mode lets a
report read while raters write; synchronous=FULL makes every committed rating survive a
killed server or a power cut.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from rwsr.errors import InputError
from rwsr.mos.config import StudyConfig

FORMAT = 1
"""Bumped when the schema changes incompatibly."""

SCHEMA = """
CREATE TABLE study (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    config TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE methods (
    id INTEGER PRIMARY KEY,  -- 1..M in the order given on the command line
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL
);
CREATE TABLE outputs (
    image_id INTEGER NOT NULL REFERENCES images(id),
    method_id INTEGER NOT NULL REFERENCES methods(id),
    path TEXT NOT NULL,
    PRIMARY KEY (image_id, method_id)
);
CREATE TABLE patches (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id),
    y INTEGER NOT NULL,
    x INTEGER NOT NULL,
    size INTEGER NOT NULL,
    reference_png BLOB NOT NULL
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    method_id INTEGER NOT NULL REFERENCES methods(id),
    patch_id INTEGER NOT NULL REFERENCES patches(id),
    png BLOB NOT NULL,
    UNIQUE (method_id, patch_id)
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,  -- sha256 of the cookie; the cookie itself is not kept
    created TEXT NOT NULL
);
CREATE TABLE assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, trial_id)
) WITHOUT ROWID;
CREATE TABLE ratings (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 5),
    elapsed_ms INTEGER,  -- time from both patches shown to the answer, as the browser saw it
    rated TEXT NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rater_id, trial_id),
    FOREIGN KEY (rater_id, trial_id) REFERENCES assignments(rater_id, trial_id)
) WITHOUT ROWID;
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode; write through `transaction` to group statements."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT: takes the write lock up front, so reads inside are current."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def open_study(path: Path) -> tuple[sqlite3.Connection, StudyConfig]:
    """Open an existing study database and read its config; errors name the file."""
    if not path.is_file():
        raise InputError(f"{path}: study database does not exist")
    try:
        connection = connect(path)
    except sqlite3.DatabaseError as error:
        raise InputError(f"{path}: not a MOS study database ({error})") from None
    try:
        row = connection.execute("SELECT format, config FROM study").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise InputError(f"{path}: not a MOS study database ({error})") from None
    try:
        if row is None:
            raise InputError(f"{path}: study database is incomplete (no study record)")
        if row[0] != FORMAT:
            raise InputError(
                f"{path}: study format {row[0]} is not supported by this rwsr (expects {FORMAT})"
            )
        try:
            config = StudyConfig.model_validate_json(row[1])
        except ValidationError as error:
            raise InputError(f"{path}: study config is unreadable ({error})") from None
    except InputError:
        connection.close()
        raise
    return connection, config
