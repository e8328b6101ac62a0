"""Samples/s per DataLoader worker as training draws them, on the paper's source mix, before
and after the decoded cache, measured in the same run.

The mix of realsr_x4 (paper Sec. IV-A): real x4 pairs + 2K clean photos (DIV2K) + auxiliary
x4 pairs (NGDC-kept NTIRE2020), drawn by size, 1 : 4 : 4 here. Stand-ins of 2K photos are
generated into a temporary folder from ../shared/datasets: real pairs = City100 iPhone X
pairs enlarged (HR 2040x1456, its LR photo at 510x364), clean photos = BSD100 photos enlarged
to 2040x1360, auxiliary pairs = other BSD100 photos enlarged, paired by `rwsr pairs`'s recipe
(LR 510x340). Batch 16 of 128 px HR crops at x4, flips and rotations, noise from the bank
data/camerasr_cpu_bank (collected from City100 LR photos).

- before: the loader as it was: every sample decodes its PNGs whole, a clean photo's LR is
  made from the whole photo, and the worker processes restart every epoch (of at least 100
  batches); re-created here by overriding PairDataset.crop.
- after: rwsr.train.data as `rwsr train` runs it, with data.cache disk (the mode of a set
  too large for memory, or of DDP): crops out of memory-mapped .npy files, a clean photo's
  LR made per crop, workers started once.

A worker's steady rate is timed after its first batch; the first batch's latency is what a
start costs, which `before` paid again every epoch: its effective rate charges one start per
100 batches. Workers for 20 it/s = 320 samples/s at batch 16 assume a core per worker.

    nice -n 10 .venv/bin/python benchmarks/bench_dataloader.py [--workers 1 2] [--batches 100]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from rwsr.data.pairs import PairsConfig, make_pair
from rwsr.data.training_set import PairDataset
from rwsr.imageio import read_image, write_image
from rwsr.train.config import DataConfig, SourceConfig
from rwsr.train.data import build_training_data

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "datasets"
BANK = REPO / "data" / "camerasr_cpu_bank"
OLD_EPOCH_BATCHES = 100  # the old loader's shortest epoch: its workers restarted after it
TARGET = 320  # samples/s: 20 it/s at batch 16


def enlarged(image: np.ndarray, long_side: int, short_side: int) -> np.ndarray:
    """`image` resized to a 2K stand-in, keeping its orientation (content, not recipe)."""
    width, height = (
        (long_side, short_side) if image.shape[1] >= image.shape[0] else (short_side, long_side)
    )
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


def make_sources(root: Path, *, real: int, clean: int, aux: int) -> list[SourceConfig]:
    """The stand-in folders of the three sources under `root`."""
    city100 = sorted((SHARED / "city100_iphonex_train").glob("*H.PNG"))[:real]
    for hr_path in city100:
        hr = enlarged(read_image(hr_path), 2040, 1456)
        lr = enlarged(read_image(hr_path.with_name(hr_path.name.replace("H.", "L."))), 510, 364)
        write_image(root / "real" / "HR" / f"{hr_path.stem}.png", hr)
        write_image(root / "real" / "LR" / f"{hr_path.stem}.png", lr)
    photos = sorted((SHARED / "bsd100_hr").glob("*.png"))
    for path in photos[:clean]:
        write_image(root / "clean" / path.name, enlarged(read_image(path), 2040, 1360))
    recipe = PairsConfig(scale=4, cleanup=1)
    for path in photos[clean : clean + aux]:
        hr, lr = make_pair(enlarged(read_image(path), 2040, 1360), config=recipe)
        write_image(root / "aux" / "HR" / path.name, hr)
        write_image(root / "aux" / "LR" / path.name, lr)
    return [
        SourceConfig(name="real", layout="paired", root=root / "real", scale=4),
        SourceConfig(name="clean", layout="clean", root=root / "clean"),
        SourceConfig(name="aux", layout="paired", root=root / "aux"),
    ]


class WholeDecodeDataset(PairDataset):
    """The crops of the loader before: both PNGs of a sample decoded whole, a clean photo's
    LR made from the whole photo (make_pair)."""

    def crop(self, index: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        pair, p, s = self.pairs[index], self.lr_patch, self.scale
        if pair.lr is None:
            hr, lr = make_pair(read_image(pair.hr), config=self.clean_recipe)
        else:
            lr, hr = read_image(pair.lr), read_image(pair.hr)
        return lr[y : y + p, x : x + p], hr[y * s : (y + p) * s, x * s : (x + p) * s]


def old_batches(dataset: PairDataset, keys: list[tuple[int, int]], workers: int) -> Iterator:
    """Batches as before: a new DataLoader iteration (new workers) per epoch."""
    while True:
        yield from DataLoader(dataset, batch_size=16, sampler=keys, num_workers=workers)


def timed(batches: Iterator, count: int) -> tuple[float, float]:
    """(seconds to the first batch, samples/s of the next `count`)."""
    start = time.perf_counter()
    next(batches)
    first = time.perf_counter()
    for _ in range(count):
        next(batches)
    return first - start, count * 16 / (time.perf_counter() - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=100, help="timed batches after")
    parser.add_argument("--before-batches", type=int, default=6, help="timed batches before")
    parser.add_argument(
        "--images", type=int, nargs=3, default=[4, 16, 16], metavar=("REAL", "CLEAN", "AUX")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        began = time.perf_counter()
        real, clean, aux = args.images
        sources = make_sources(root, real=real, clean=clean, aux=aux)
        print(
            f"stand-ins: {real} real pairs, {clean} clean photos, {aux} aux pairs of 2K PNGs"
            f" ({time.perf_counter() - began:.0f} s to make)"
        )
        config = DataConfig(
            sources=sources,
            noise_bank=BANK,
            hr_patch=128,
            batch_size=16,
            cache="disk",
            cache_dir=root / "decoded",
        )
        rows = []
        for workers in args.workers:
            began = time.perf_counter()
            data = build_training_data(
                config.model_copy(update={"workers": workers}),
                scale=4,
                seed=0,
                rank=0,
                world=1,
                device=torch.device("cpu"),
            )
            if workers == args.workers[0]:
                print(
                    f"after, cache fill: {time.perf_counter() - began:.1f} s, once per machine"
                    f" ({data.dataset.images.describe()})"
                )
            old = WholeDecodeDataset(
                data.dataset.pairs,
                hr_patch=config.hr_patch,
                augment=config.augment,
                noise_probability=config.noise_probability,
                x1_blur=config.x1_blur,
                banks=data.dataset.banks,
            )
            data.draws.start = 0  # the old epoch: the same draws, 100 batches of them
            keys = list(itertools.islice(data.draws, OLD_EPOCH_BATCHES * 16))
            before_start, before_rate = timed(old_batches(old, keys, workers), args.before_batches)
            after_start, after_rate = timed(data.batches(start_iteration=0), args.batches)
            epoch = OLD_EPOCH_BATCHES * 16
            before_effective = epoch / (epoch / before_rate + before_start)
            rows.append(
                (workers, before_rate, before_start, before_effective, after_rate, after_start)
            )
            del data
    print(f"{os.cpu_count()} CPU cores; batch 16, 128 px HR, x4, noise on; samples/s per worker")
    print(
        f"{'workers':>7} {'before':>8} {'(start s)':>9} {'effective':>9}"
        f" {'after':>8} {'(start s)':>9} {'after/before':>12}"
    )
    for workers, b_rate, b_start, b_eff, a_rate, a_start in rows:
        print(
            f"{workers:>7} {b_rate / workers:8.1f} {b_start:9.2f} {b_eff / workers:9.1f}"
            f" {a_rate / workers:8.1f} {a_start:9.2f} {a_rate / b_eff:11.1f}x"
        )
    best_before = max(row[3] / row[0] for row in rows)
    best_after = max(row[4] / row[0] for row in rows)
    print(
        f"workers for {TARGET} samples/s (20 it/s at batch 16): before"
        f" {math.ceil(TARGET / best_before)}, after {math.ceil(TARGET / best_after)} (target: <= 8)"
    )


if __name__ == "__main__":
    main()
