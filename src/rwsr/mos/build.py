"""Building a study: match images, sample patch positions once, store every patch as PNG.

The database is written to a temporary file and renamed into place when complete, so a
crash or a bad input never leaves a half-built study behind.
"""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import from_float, read_image, to_float
from rwsr.mos.config import StudyConfig
from rwsr.mos.db import FORMAT, SCHEMA, connect, open_study
from rwsr.mos.matching import ImageSet, match_images
from rwsr.mos.sampling import allocate, sample_positions


def encode_png(patch: np.ndarray) -> bytes:
    """Lossless 8-bit RGB PNG with no colour-management chunks, so browsers show raw pixels."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(patch[:, :, ::-1]))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise RuntimeError("OpenCV failed to encode a PNG patch")
    return data.tobytes()


def to_display(image: np.ndarray) -> np.ndarray:
    """What a browser shows: 8-bit RGB (16-bit files rounded to nearest)."""
    return image if image.dtype == np.uint8 else from_float(to_float(image))


def build_study(
    config: StudyConfig, db_path: Path, *, overwrite: bool = False, progress: bool = False
) -> None:
    """Create the study database at `db_path` from `config` (see module docstring)."""
    db_path = Path(db_path)
    if db_path.exists() and not overwrite:
        raise InputError(f"{db_path}: already exists; pass --overwrite to replace the study")
    scenes = match_images(config.reference, config.methods, pattern=config.reference_pattern)
    rng = np.random.default_rng(config.seed)
    counts = allocate(config.patches, len(scenes), rng)
    with atomic_path(db_path, overwrite=overwrite) as tmp:
        connection = connect(tmp)
        try:
            connection.executescript(SCHEMA)
            connection.execute("BEGIN")
            _store(connection, config, scenes, counts, rng, progress)
            connection.execute("COMMIT")
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
        for stale in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            stale.unlink(missing_ok=True)  # journal files of a replaced study must not apply


def ensure_study(
    db_path: Path,
    config: StudyConfig | None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> None:
    """Make `db_path` hold the study `config`: build it when absent (or on `overwrite`),
    otherwise check that the stored study is the same one, so a rerun of the same command
    resumes it. With no config the study must already exist."""
    db_path = Path(db_path)
    if config is None:
        if not db_path.exists():
            raise ConfigError(
                f"{db_path}: no such study; create it with --ref DIR --method NAME=DIR"
            )
        open_study(db_path)[0].close()
        return
    if overwrite or not db_path.exists():
        build_study(config, db_path, overwrite=overwrite, progress=progress)
        return
    connection, stored = open_study(db_path)
    connection.close()
    differences = stored.differences(config)
    if differences:
        raise ConfigError(
            f"{db_path}: holds a different study ({'; '.join(differences)}); serve it without "
            "--ref/--method, choose another --db, or rebuild it with --overwrite"
        )


def _store(
    connection: sqlite3.Connection,
    config: StudyConfig,
    scenes: list[ImageSet],
    counts: list[int],
    rng: np.random.Generator,
    progress: bool,
) -> None:
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    connection.execute(
        "INSERT INTO study (id, format, config, created) VALUES (1, ?, ?, ?)",
        (FORMAT, config.model_dump_json(), created),
    )
    method_ids = {}
    for method in config.methods:
        cursor = connection.execute("INSERT INTO methods (name) VALUES (?)", (method.name,))
        method_ids[method.name] = cursor.lastrowid
    size = config.patch_size
    for scene, count in tqdm(
        list(zip(scenes, counts)), desc="building study", unit="image", disable=not progress
    ):
        reference = to_display(read_image(scene.reference))
        height, width = reference.shape[:2]
        if height < size or width < size:
            raise InputError(
                f"{scene.reference}: image is {width}x{height}, smaller than the {size}-px "
                "patch; choose a smaller --patch-size"
            )
        image_id = connection.execute(
            "INSERT INTO images (key, reference, height, width) VALUES (?, ?, ?, ?)",
            (scene.key, str(scene.reference), height, width),
        ).lastrowid
        outputs = {}
        for name, path in scene.outputs.items():
            output = to_display(read_image(path))
            if output.shape[:2] != (height, width):
                raise InputError(
                    f"{path}: method {name!r} output is {output.shape[1]}x{output.shape[0]} but "
                    f"reference {scene.reference.name} is {width}x{height}; a study compares "
                    "images of the same size"
                )
            outputs[name] = output
            connection.execute(
                "INSERT INTO outputs (image_id, method_id, path) VALUES (?, ?, ?)",
                (image_id, method_ids[name], str(path)),
            )
        for y, x in sample_positions(height, width, size, count, rng):
            window = (slice(y, y + size), slice(x, x + size))
            patch_id = connection.execute(
                "INSERT INTO patches (image_id, y, x, size, reference_png) VALUES (?, ?, ?, ?, ?)",
                (image_id, y, x, size, encode_png(reference[window])),
            ).lastrowid
            connection.executemany(
                "INSERT INTO trials (method_id, patch_id, png) VALUES (?, ?, ?)",
                [
                    (method_ids[name], patch_id, encode_png(output[window]))
                    for name, output in outputs.items()
                ],
            )
