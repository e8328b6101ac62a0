"""The noise bank: flat, noisy RGB patches kept for noise injection at training time.

On disk a bank is a folder with two files:
- `patches.npy`: all patches as one N x s x s x 3 array (uint8 or uint16, RGB), loadable
  memory-mapped, so a training worker touches only the patches it draws;
- `index.json`: format and version, patch size, the CATI that admitted the patches, the
  source images, and per patch its source, top-left position (y, x), luma mean and variance.
`index.json` is written last, so a folder with it is a complete bank.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwsr.atomic import atomic_path, write_text_atomic
from rwsr.data.ngdc.cati import Cati
from rwsr.data.parallel import WorkerPool, run_per_file
from rwsr.errors import InputError
from rwsr.imageio import read_image, write_image

BANK_FORMAT = "rwsr-noise-bank"
BANK_VERSION = 1
PATCHES_FILE = "patches.npy"
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class BankSelection:
    """The windows of one source image that join the bank."""

    source: Path
    role: str  # "source", "target" or "aux"
    dtype: str  # sample type of the source image
    y: np.ndarray
    x: np.ndarray
    mean: np.ndarray
    variance: np.ndarray


@dataclass(frozen=True)
class NoiseBank:
    """An opened bank: memory-mapped patches plus their index."""

    path: Path
    patches: np.ndarray
    index: dict

    @property
    def patch(self) -> int:
        return int(self.patches.shape[1])

    @property
    def cati(self) -> Cati:
        return Cati.model_validate(self.index["cati"])

    def __len__(self) -> int:
        return int(self.patches.shape[0])


def open_bank(path: str | Path) -> NoiseBank:
    """Open a bank folder; raise InputError naming the file for anything unusable or empty."""
    path = Path(path)
    index_path, patches_path = path / INDEX_FILE, path / PATCHES_FILE
    if not index_path.is_file():
        raise InputError(
            f"{path}: not a noise bank ({INDEX_FILE} missing); make one with `rwsr noise collect`"
        )
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{index_path}: unreadable bank index ({error})") from None
    if index.get("format") != BANK_FORMAT or index.get("version") != BANK_VERSION:
        raise InputError(f"{index_path}: not a {BANK_FORMAT} v{BANK_VERSION} index")
    try:
        patches = np.load(patches_path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise InputError(f"{patches_path}: unreadable patch array ({error})") from None
    count = int(index["count"])
    if patches.ndim != 4 or patches.shape[0] != count or patches.shape[3] != 3:
        raise InputError(
            f"{patches_path}: shape {patches.shape} does not match the index ({count} patches "
            "of s x s x 3)"
        )
    if count == 0:
        cati = Cati.model_validate(index["cati"])
        raise InputError(
            f"{path}: the noise bank holds 0 patches ({cati.describe()}): no patch of the "
            f"sources met it; {cati.how_to_widen()}, use a smaller --patch, "
            "allow clipped patches, or train without noise injection"
        )
    return NoiseBank(path, patches, index)


def _extract(numbered: tuple[int, BankSelection], *, patch: int, dtype: str) -> np.ndarray:
    selection = numbered[1]
    image = read_image(selection.source)
    if image.dtype != np.dtype(dtype):  # 16-bit source in an 8-bit bank
        image = np.floor(image / 257.0 + 0.5).astype(np.uint8)
    return np.stack([image[y : y + patch, x : x + patch] for y, x in zip(selection.y, selection.x)])


def write_bank(
    out_dir: str | Path,
    selections: Sequence[BankSelection],
    *,
    cati: Cati,
    patch: int,
    workers: int | WorkerPool = 1,
    overwrite: bool = False,
    export_png: bool = False,
    progress: bool = True,
) -> int:
    """Cut the selected windows out of their images and store them as one bank; returns N.

    Patches are stored in the order of `selections` (not of completion), so the bank does
    not depend on the number of workers. Failing images raise: the statistics were taken from
    them a moment ago, so a failure here means the files changed under us.
    """
    out_dir = Path(out_dir)
    selections = [s for s in selections if s.y.size]
    count = sum(int(s.y.size) for s in selections)
    if count == 0:
        raise InputError(
            f"{out_dir}: no patch meets the {'fixed rule' if cati.rule == 'fixed' else 'CATI'} "
            f"({cati.describe()}); nothing to bank. "
            f"{cati.how_to_widen().capitalize()}, use a smaller --patch or allow clipped patches"
        )
    for name in (INDEX_FILE, PATCHES_FILE):
        if (out_dir / name).exists() and not overwrite:
            raise InputError(f"{out_dir / name}: already exists; pass --overwrite to replace it")
    (out_dir / INDEX_FILE).unlink(missing_ok=True)  # incomplete until the new index is written
    offsets = np.cumsum([0] + [int(s.y.size) for s in selections])
    dtype = "uint16" if all(s.dtype == "uint16" for s in selections) else "uint8"
    work = functools.partial(_extract, patch=patch, dtype=dtype)
    numbered = list(enumerate(selections))
    with atomic_path(out_dir / PATCHES_FILE, overwrite=overwrite) as tmp:
        shape = (count, patch, patch, 3)
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        outcomes = run_per_file(
            work, numbered, workers=workers, description="bank", progress=progress
        )
        for outcome in outcomes:
            if outcome.error is not None or outcome.result is None:
                raise InputError(outcome.error or f"{outcome.item[1].source}: no patches came back")
            i = outcome.item[0]
            array[offsets[i] : offsets[i + 1]] = outcome.result
        array.flush()
        if export_png:
            for i in range(count):
                png = out_dir / "png" / f"{i:06d}.png"
                write_image(png, np.asarray(array[i]), overwrite=overwrite)
        del array
    sources = [os.path.abspath(s.source) for s in selections]
    entries = {
        "source": np.repeat(np.arange(len(selections)), [s.y.size for s in selections]).tolist(),
        "y": np.concatenate([s.y for s in selections]).astype(int).tolist(),
        "x": np.concatenate([s.x for s in selections]).astype(int).tolist(),
        "mean": np.round(np.concatenate([s.mean for s in selections]), 4).tolist(),
        "variance": np.round(np.concatenate([s.variance for s in selections]), 4).tolist(),
    }
    index = {
        "format": BANK_FORMAT,
        "version": BANK_VERSION,
        "count": count,
        "patch": patch,
        "dtype": dtype,
        "convention": "RGB patches; mean/variance of BT.601 luma on 0-255, population variance",
        "cati": cati.model_dump(mode="json"),
        "sources": sources,
        "roles": [s.role for s in selections],
        "entries": entries,
    }
    text = json.dumps(index, separators=(",", ":")) + "\n"  # machine data; report.md is for people
    write_text_atomic(out_dir / INDEX_FILE, text, overwrite=True)
    return count
