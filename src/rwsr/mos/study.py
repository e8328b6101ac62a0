"""What raters do to a study: join, fetch their trials' patches, rate, resume.

Raters see positions in their own queue (0, 1, …), never trial or method ids, so nothing a
client sees reveals which method made a patch. Every write is its own committed transaction
before the call returns. One `Study` serves many threads: each thread gets its own
connection, and SQLite's write lock (with a busy timeout) serialises the writers.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rwsr.mos.db import connect, open_study, transaction
from rwsr.mos.scale import MAX_SCORE, MIN_SCORE
from rwsr.mos.schedule import trial_order

Side = Literal["reference", "result"]
_MAX_POSITION = 2**31  # larger values cannot be queue positions (and overflow SQLite integers)


class TrialError(Exception):
    """A rater asked for something their queue does not allow; `status` is the HTTP code."""

    status = 400


class UnknownTrial(TrialError):
    status = 404


class StudyFull(TrialError):
    """The study already has the most raters it was served for (`--max-raters`)."""

    status = 503


class AlreadyRated(TrialError):
    status = 409


@dataclass(frozen=True)
class Progress:
    """Where a rater stands: answers given, queue length, first unanswered position."""

    done: int
    total: int
    next: int | None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Study:
    """An open study database, safe to share between threads."""

    def __init__(self, path: Path, *, max_raters: int | None = None) -> None:
        self.path = Path(path)
        self.max_raters = max_raters
        connection, self.config = open_study(self.path)
        connection.close()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect(self.path)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def create_rater(self) -> tuple[str, int]:
        """A new anonymous rater with their own balanced queue; returns (secret token, id).

        With `patches_per_rater`, the rater gets the patches fewest raters have had so far
        (ties at random), so coverage stays even as raters join.
        """
        token = secrets.token_urlsafe(32)
        rng = np.random.default_rng(secrets.randbits(128))
        db = self._db()
        with transaction(db):
            if self.max_raters is not None:
                (raters,) = db.execute("SELECT COUNT(*) FROM raters").fetchone()
                if raters >= self.max_raters:
                    raise StudyFull(
                        f"this study is full: it has its {self.max_raters} raters. Thank you!"
                    )
            trials = {
                (method_id, patch_id): trial_id
                for trial_id, method_id, patch_id in db.execute(
                    "SELECT id, method_id, patch_id FROM trials"
                )
            }
            method_ids = [row[0] for row in db.execute("SELECT id FROM methods ORDER BY id")]
            coverage = dict(
                db.execute(
                    "SELECT p.id, COUNT(DISTINCT a.rater_id) FROM patches p "
                    "LEFT JOIN trials t ON t.patch_id = p.id "
                    "LEFT JOIN assignments a ON a.trial_id = t.id GROUP BY p.id"
                ).fetchall()
            )
            wanted = self.config.patches_per_rater or len(coverage)
            ranked = sorted(coverage, key=lambda patch: (coverage[patch], rng.random()))
            order = trial_order(ranked[:wanted], len(method_ids), rng)
            db.execute(
                "INSERT INTO raters (token_hash, created) VALUES (?, ?)",
                (_token_hash(token), _now()),
            )
            (rater_id,) = db.execute(
                "SELECT id FROM raters WHERE token_hash = ?", (_token_hash(token),)
            ).fetchone()
            db.executemany(
                "INSERT INTO assignments (rater_id, position, trial_id) VALUES (?, ?, ?)",
                [
                    (rater_id, position, trials[(method_ids[method], patch)])
                    for position, (method, patch) in enumerate(order)
                ],
            )
        return token, rater_id

    def rater_id(self, token: str) -> int | None:
        """The rater holding `token`, or None for an unknown or forged token."""
        row = (
            self._db()
            .execute("SELECT id FROM raters WHERE token_hash = ?", (_token_hash(token),))
            .fetchone()
        )
        return None if row is None else int(row[0])

    def progress(self, rater_id: int) -> Progress:
        db = self._db()
        total, done = db.execute(
            "SELECT (SELECT COUNT(*) FROM assignments WHERE rater_id = :r), "
            "(SELECT COUNT(*) FROM ratings WHERE rater_id = :r)",
            {"r": rater_id},
        ).fetchone()
        (next_position,) = db.execute(
            "SELECT MIN(a.position) FROM assignments a LEFT JOIN ratings r "
            "ON r.rater_id = a.rater_id AND r.trial_id = a.trial_id "
            "WHERE a.rater_id = ? AND r.trial_id IS NULL",
            (rater_id,),
        ).fetchone()
        return Progress(done=done, total=total, next=next_position)

    def _trial_id(self, db: sqlite3.Connection, rater_id: int, position: int) -> int:
        row = None
        if 0 <= position < _MAX_POSITION:
            row = db.execute(
                "SELECT trial_id FROM assignments WHERE rater_id = ? AND position = ?",
                (rater_id, position),
            ).fetchone()
        if row is None:
            raise UnknownTrial(f"trial {position} is not in this rater's study")
        return int(row[0])

    def score(self, rater_id: int, position: int) -> int | None:
        """The rater's answer at `position`, None while unanswered."""
        db = self._db()
        trial_id = self._trial_id(db, rater_id, position)
        row = db.execute(
            "SELECT score FROM ratings WHERE rater_id = ? AND trial_id = ?", (rater_id, trial_id)
        ).fetchone()
        return None if row is None else int(row[0])

    def patch_png(self, rater_id: int, position: int, side: Side) -> bytes:
        """The PNG of the reference or the method patch at the rater's `position`."""
        db = self._db()
        trial_id = self._trial_id(db, rater_id, position)
        column = "p.reference_png" if side == "reference" else "t.png"
        (data,) = db.execute(
            f"SELECT {column} FROM trials t JOIN patches p ON p.id = t.patch_id WHERE t.id = ?",
            (trial_id,),
        ).fetchone()
        return bytes(data)

    def rate(
        self, rater_id: int, position: int, score: int, elapsed_ms: int | None = None
    ) -> Progress:
        """Store the answer, committed before returning; a second answer needs revisions on."""
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise TrialError(f"score must be an integer from {MIN_SCORE} to {MAX_SCORE}")
        db = self._db()
        with transaction(db):
            trial_id = self._trial_id(db, rater_id, position)
            exists = db.execute(
                "SELECT 1 FROM ratings WHERE rater_id = ? AND trial_id = ?", (rater_id, trial_id)
            ).fetchone()
            if exists and not self.config.allow_revisions:
                raise AlreadyRated(
                    f"trial {position} is already rated; this study allows no revisions"
                )
            if exists:
                db.execute(
                    "UPDATE ratings SET score = ?, elapsed_ms = ?, rated = ?, "
                    "revisions = revisions + 1 WHERE rater_id = ? AND trial_id = ?",
                    (score, elapsed_ms, _now(), rater_id, trial_id),
                )
            else:
                db.execute(
                    "INSERT INTO ratings (rater_id, trial_id, score, elapsed_ms, rated) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (rater_id, trial_id, score, elapsed_ms, _now()),
                )
        return self.progress(rater_id)
