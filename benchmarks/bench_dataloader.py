"""Samples/s of the training DataLoader on the City100 pairs, against an ideal reference.

Training must not wait for decoding. Reference: the same loader decoding both PNGs for every
sample (preload="never"), measured in the same run, against the decoded .npy cache (for sets
too large to preload; measured warm) and the default for a set of this size (preloaded).
Noise injection from a bank collected from the same images is included in both.

    nice -n 10 .venv/bin/python benchmarks/bench_dataloader.py [--workers 2] [--batches 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from rwsr.data.datasets import load_pairs
from rwsr.data.ngdc.bank import open_bank
from rwsr.data.ngdc.cati import NoiseSamplingConfig
from rwsr.data.ngdc.collect import collect_noise
from rwsr.data.training_set import PairDataset, TrainingSetConfig

CITY100 = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "city100_iphonex_train"
)


def samples_per_second(dataset: PairDataset, *, workers: int, batch: int, batches: int) -> float:
    torch.manual_seed(0)
    loader = DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=True
    )
    stream = iter(_forever(loader))
    for _ in range(2 * workers):  # start the workers and fill their queues
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * batch / (time.perf_counter() - start)


def _forever(loader: DataLoader) -> object:
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--data", type=Path, default=CITY100)
    args = parser.parse_args()
    pairs = load_pairs(args.data, layout="city100")
    with tempfile.TemporaryDirectory() as scratch:
        sampling = NoiseSamplingConfig(patch=128, percentile=2)
        collect_noise(
            args.data, Path(scratch) / "bank", config=sampling, workers=args.workers, progress=False
        )
        bank = open_bank(Path(scratch) / "bank")
        config = TrainingSetConfig(hr_patch=128, preload="never")
        variants = {
            "decode every sample": config,
            "decoded cache (warm)": config.model_copy(
                update={"cache_dir": Path(scratch) / "decoded"}
            ),
            "preloaded (the default)": config.model_copy(update={"preload": "always"}),
        }
        rates = {}
        for name, variant in variants.items():
            dataset = PairDataset(pairs, config=variant, bank=bank)
            if variant.cache_dir is not None:
                for index in range(len(dataset)):  # the first epoch fills the cache
                    dataset[index]
            rates[name] = samples_per_second(
                dataset, workers=args.workers, batch=args.batch, batches=args.batches
            )
    print(
        f"City100 x1, {len(pairs)} pairs of 840x600 PNG, HR/LR crops 128, flips+rotations, "
        f"noise from a {len(bank)}-patch bank; {args.workers} workers, batch {args.batch}"
    )
    reference = rates["decode every sample"]
    for name, rate in rates.items():
        print(f"{name:26s} {rate:8.1f} samples/s {rate / reference:6.1f}x")


if __name__ == "__main__":
    main()
