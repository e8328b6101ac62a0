"""The teacher's outputs on crops of the photos, computed once (step 1 of rwsr.train.distill).

Random crops of the photos and the teacher's outputs for them, through rwsr's tiling engine
(one tile a crop) in the run's precision (auto: bf16 where the hardware runs it natively,
else fp32). The teacher sees each crop alone, as the student will: both meet the same zero
padding at its edges, so every target is one the student can reach (with the photo around
the crop, pixels near its edges would depend on pixels the student never sees).

One .npz per photo (crops, outputs, crop corners), named by the photo's SHA-256 and written
atomically: a killed run keeps the photos done, and a photo moved or renamed is still found.
A cache folder holds one teacher and crop setting (manifest.json; another one is refused, or
replaced with --overwrite) and 8-bit crops; what one run caches is bounded by --max-cache-mb
(fewer crops per photo beyond it, with a note). Files of photos no longer given stay until
the folder is removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rwsr.atomic import atomic_path, write_text_atomic
from rwsr.data.folders import is_listed_image, natural_key
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import IMAGE_SUFFIXES, from_float, image_size, is_image_path, read_image, to_float
from rwsr.models.catalog import BUILTIN_ARCHITECTURES
from rwsr.models.catalog import generator_scale as scale_of
from rwsr.models.zoo import ZOO, load_generator, sha256_of, zoo_entry
from rwsr.outputs import check_output_dir
from rwsr.train.distill_config import DistillConfig
from rwsr.upscale.engine import MIN_TILE, Upscaler

CACHE_FORMAT = 1

Say = Callable[[str], None]


def say_on_stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


# ----------------------------------------------------------------------------- teacher


@dataclasses.dataclass(frozen=True)
class Teacher:
    name: str  # as the user gave it: zoo name or file
    sha256: str  # of its weights file
    model: nn.Module
    scale: int


def check_model_name(name: str, what: str) -> None:
    """Refuse a name that is neither a zoo model nor an existing file, naming `what`."""
    if name not in {entry.name for entry in ZOO} and not Path(name).exists():
        kind = (
            "an architecture (random weights), not trained weights"
            if name in BUILTIN_ARCHITECTURES
            else "neither a zoo model nor a file"
        )
        raise ConfigError(
            f"{what} '{name}' is {kind}; zoo models:"
            f" {', '.join(sorted(entry.name for entry in ZOO))}"
        )


def load_teacher(name: str, *, progress: bool = True) -> Teacher:
    """Any model rwsr loads (zoo name or file, RWSR-EDL and spandrel architectures included)."""
    check_model_name(name, "TEACHER")
    loaded = load_generator(name, progress=progress)
    is_zoo = name in {entry.name for entry in ZOO}
    sha256 = zoo_entry(name).sha256 if is_zoo else sha256_of(Path(name))  # zoo: checked on load
    return Teacher(name, sha256, loaded.model, scale_of(loaded.config))


# ----------------------------------------------------------------------------- photos


def find_photos(inputs: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The photo files given and those in the given folders (recursively; hidden files are not
    photos, as for `rwsr upscale`), and notes on what was skipped."""
    photos: list[Path] = []
    notes: list[str] = []
    for given in inputs:
        if given.is_file():
            if is_image_path(given):
                photos.append(given)
            else:
                notes.append(f"{given}: skipped, not an image")
        elif given.is_dir():
            for root, dirs, files in os.walk(given):
                dirs.sort()
                found = [Path(root) / name for name in files]
                photos += sorted(filter(is_listed_image, found), key=natural_key)
        else:
            raise InputError(f"PHOTOS: {given} does not exist")
    if not photos:
        raise InputError(
            f"no photos in {', '.join(map(str, inputs)) or 'PHOTOS'} (looked for"
            f" {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return photos, notes


# ----------------------------------------------------------------------------- teacher cache


@dataclasses.dataclass(frozen=True)
class CropSet:
    """The training data: photo crops and the teacher's outputs for them."""

    lr: np.ndarray  # N x crop x crop x 3, uint8
    teacher: np.ndarray  # N x crop*scale x crop*scale x 3, uint8
    photos: int  # photos the crops come from
    per_photo: int  # crops from each
    computed: int  # crops the teacher ran on in this call (0: all from the cache)
    precision: str  # the teacher's
    digest: str  # of the cache setting and the photos' contents: what a resume must match


def cache_key(teacher: Teacher, config: DistillConfig, precision: torch.dtype) -> dict[str, Any]:
    """What the cached outputs depend on (the count per photo aside: the crops of a photo are
    drawn one after another, so the first n of a larger draw are a draw of n)."""
    return {
        "format": CACHE_FORMAT,
        "teacher_sha256": teacher.sha256,
        "scale": teacher.scale,
        "crop": config.crop,
        "precision": str(precision).removeprefix("torch."),
        "seed": config.seed,
    }


def open_cache(folder: Path, key: dict[str, Any], teacher: str, *, overwrite: bool) -> None:
    """Make `folder` the cache of `key`: new, already of `key`, or (with `overwrite`) emptied
    of another setting's outputs. Anything else is refused before the teacher runs."""
    check_output_dir(folder, option="--cache")
    manifest = folder / "manifest.json"
    if manifest.exists():
        try:
            stored = json.loads(manifest.read_text()).get("key", {})
        except (OSError, ValueError, AttributeError):
            stored = {"manifest.json": "unreadable"}
        if stored == key:
            return
        changed = ", ".join(
            f"{name} {stored.get(name)!r} -> {key.get(name)!r}"
            for name in sorted(stored.keys() | key.keys())
            if stored.get(name) != key.get(name)
        )
        if not overwrite:
            raise ConfigError(
                f"--cache {folder}: holds teacher outputs of other settings ({changed}); give"
                " another --cache folder, or --overwrite to replace them"
            )
        for stale in folder.glob("*.npz"):
            stale.unlink()
    elif folder.is_dir() and any(folder.iterdir()):
        raise ConfigError(
            f"--cache {folder}: not a teacher cache (no manifest.json) and not empty; give a new"
            " or empty folder"
        )
    write_text_atomic(
        manifest, json.dumps({"teacher": teacher, "key": key}, indent=1) + "\n", overwrite=True
    )


def crop_boxes(sha256: str, seed: int, size: tuple[int, int], crop: int, count: int) -> np.ndarray:
    """`count` (top, left) corners drawn for a photo of `size` (width, height): a function of
    the photo's content and the seed, drawn one crop after another."""
    rng = np.random.default_rng([seed, int(sha256[:15], 16)])
    width, height = size
    return np.array(
        [
            (rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1))
            for _ in range(count)
        ]
    ).reshape(count, 2)


def _cached(path: Path, count: int) -> dict[str, np.ndarray] | None:
    """The first `count` crops of a photo's cache file, or None when it has fewer."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in ("lr", "teacher", "boxes")}
    except (OSError, ValueError, KeyError):  # not ours, or damaged: made again
        return None
    if len(arrays["lr"]) < count:
        return None
    return {name: value[:count] for name, value in arrays.items()}


def _teacher_crops(
    upscaler: Upscaler, image: np.ndarray, boxes: np.ndarray, crop: int, bar: tqdm
) -> tuple[np.ndarray, np.ndarray]:
    """The crops of `image` at `boxes` and the teacher's outputs for them."""
    lows, highs = [], []
    for top, left in boxes:
        lows.append(np.ascontiguousarray(image[top : top + crop, left : left + crop]))
        highs.append(upscaler.upscale(lows[-1]))
        bar.update(1)
    return np.stack(lows), np.stack(highs)


def teacher_cache(
    photos: Sequence[Path],
    teacher: Teacher,
    config: DistillConfig,
    *,
    folder: Path,
    overwrite: bool = False,
    progress: bool = True,
    say: Say = say_on_stderr,
) -> CropSet:
    """Crops of `photos` and the teacher's outputs, from `folder` where already computed
    (module docstring, step 1)."""
    upscaler = Upscaler(
        teacher.model,
        device=config.device,
        precision=config.precision,
        tile=max(MIN_TILE, config.crop),  # one tile per crop
        model_name=teacher.name,
    )
    key = cache_key(teacher, config, upscaler.dtype)
    open_cache(folder, key, teacher.name, overwrite=overwrite)
    usable: dict[str, tuple[Path, tuple[int, int]]] = {}  # by content: a copy counts once
    for path in photos:
        try:
            size = image_size(path)
        except InputError as error:
            say(f"warning: {error}; skipped")
            continue
        if min(size) < config.crop:
            say(
                f"warning: {path}: {size[0]}x{size[1]} is smaller than --crop {config.crop}; skipped"
            )
            continue
        usable.setdefault(sha256_of(path), (path, size))
    if not usable:
        raise InputError(f"none of the {len(photos)} photo(s) holds a {config.crop}px crop")
    scale = teacher.scale
    crop_bytes = config.crop**2 * 3 * (1 + scale**2)
    bound = config.max_cache_mb * 1e6
    per_photo = min(config.crops_per_photo, int(bound // (len(usable) * crop_bytes)))
    if per_photo == 0:
        raise ConfigError(
            f"--max-cache-mb {config.max_cache_mb:g}: {len(usable)} photos need"
            f" {len(usable) * crop_bytes / 1e6:.2f} MB for one crop each ({crop_bytes / 1e6:.2f} MB"
            f" per {config.crop}px crop with its x{scale} output); raise it, lower --crop or give"
            " fewer photos"
        )
    if per_photo < config.crops_per_photo:
        say(
            f"note: --max-cache-mb {config.max_cache_mb:g} holds {per_photo} crops per photo, not"
            f" {config.crops_per_photo} ({len(usable)} photos, {crop_bytes / 1e6:.2f} MB a crop)"
        )
    files = {sha: folder / f"{sha[:20]}.npz" for sha in usable}
    found = {sha: _cached(files[sha], per_photo) for sha in usable}
    todo = [sha for sha in usable if found[sha] is None]
    bar = tqdm(
        total=len(todo) * per_photo,
        unit="crop",
        desc=f"teacher {teacher.name}",
        disable=not progress or not todo,
    )
    for sha in todo:
        path, size = usable[sha]
        boxes = crop_boxes(sha, config.seed, size, config.crop, per_photo)
        try:
            image = read_image(path)
        except InputError as error:  # a header that reads, pixels that do not
            say(f"warning: {error}; skipped")
            del usable[sha], found[sha]
            bar.update(per_photo)
            continue
        if image.dtype != np.uint8:  # the cache holds 8-bit crops
            image = from_float(to_float(image))
        lr, out = _teacher_crops(upscaler, image, boxes, config.crop, bar)
        found[sha] = {"lr": lr, "teacher": out, "boxes": boxes}
        with atomic_path(files[sha], overwrite=True) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **found[sha])
    bar.close()
    if not usable:
        raise InputError(f"none of the {len(photos)} photo(s) could be read")
    order = sorted(usable)  # by content: photos listed, named or kept elsewhere train the same
    return CropSet(
        lr=np.concatenate([found[sha]["lr"] for sha in order]),
        teacher=np.concatenate([found[sha]["teacher"] for sha in order]),
        photos=len(usable),
        per_photo=per_photo,
        computed=len(todo) * per_photo,
        precision=key["precision"],
        digest=hashlib.sha256(json.dumps([key, per_photo, order]).encode()).hexdigest(),
    )
