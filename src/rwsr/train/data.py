"""The training data of a run: its sources, mixed by their shares, into one DataLoader.

Each source of `data.sources` is one data set in its own layout (real pairs, `rwsr pairs` or
`rwsr ngdc` output, clean photos); each gets the noise bank of `data.noise_bank` (or its own),
or none. With shares, a sample comes from source i with probability share_i (pairs drawn with
replacement); without, every pair is drawn once per epoch (a permutation).

Exact resume: the order of epoch e is a function of (seed, e, rank) alone, so a resumed run
re-creates epoch e and skips the batches already used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    RandomSampler,
    Sampler,
    WeightedRandomSampler,
)

from rwsr.data.datasets import ImagePair, load_pairs
from rwsr.data.ngdc.bank import NoiseBank, open_bank
from rwsr.data.training_set import PairDataset, TrainingSetConfig
from rwsr.errors import ConfigError
from rwsr.train.config import DataConfig

# Worker processes restart at every epoch (the per-epoch seeding of the crops needs that).
# With few pairs an epoch is a handful of steps and the restarts dominate a GPU step, so with
# workers an epoch draws at least this many batches.
MIN_BATCHES_PER_EPOCH = 100


@dataclasses.dataclass(frozen=True)
class SourceSummary:
    """What one source contributes to a run (the data report)."""

    name: str
    layout: str
    root: str
    split: str | None
    pairs: int
    share: float  # expected fraction of the samples
    noise: str  # the bank's folder and size, or "none"


@dataclasses.dataclass(frozen=True)
class TrainingData:
    dataset: PairDataset
    loader: DataLoader  # batches of this process: its share of data.batch_size
    sources: list[SourceSummary]
    world: int  # processes that share each batch

    def report(self) -> str:
        lines = [f"training data: {len(self.dataset)} pairs from {len(self.sources)} source(s)"]
        lines += [
            f"  {s.name}: {s.pairs} pairs ({s.layout}, {s.root}"
            + (f", split {s.split}" if s.split else "")
            + f"), {s.share:.0%} of the samples, noise: {s.noise}"
            for s in self.sources
        ]
        rank_batch = self.loader.batch_size
        lines.append(
            f"batch: {rank_batch * self.world} global, {rank_batch} per process x {self.world}"
            if self.world > 1
            else f"batch: {rank_batch} (one process)"
        )
        return "\n".join(lines)


def default_workers(device: torch.device) -> int:
    """0 on a CPU: worker processes compete with the bf16 matrix units (measured: 2 workers
    doubled the step time on 2 cores); 4 on a GPU, which waits for data otherwise."""
    return 0 if device.type == "cpu" else 4


def build_training_data(
    config: DataConfig,
    *,
    scale: int,
    seed: int,
    rank: int,
    world: int,
    device: torch.device,
) -> TrainingData:
    """Read every source, open the banks, and make the dataset and its loader.
    `scale` is the generator's: every source must have it (clean photos are made at it).
    `config.batch_size` is the global batch (the paper's 16, which the authors divide by
    their number of GPUs): each of the `world` processes loads an equal share of it, so the
    learning rate meets the same batch on any number of GPUs."""
    if config.batch_size % world:
        raise ConfigError(
            f"data.batch_size: {config.batch_size} is the global batch and must split evenly"
            f" across the {world} processes ({config.batch_size} / {world} ="
            f" {config.batch_size / world:g}); use a multiple of {world}"
        )
    rank_batch = config.batch_size // world
    banks: dict[Path, NoiseBank] = {}

    def bank(path: Path | None) -> NoiseBank | None:
        if path is not None and path not in banks:
            banks[path] = open_bank(path)
        return banks.get(path) if path is not None else None

    pairs: list[ImagePair] = []
    pair_banks: list[NoiseBank | None] = []
    weights: list[float] = []
    summaries = []
    for index, source in enumerate(config.sources):
        source_scale = source.scale or (scale if source.layout == "clean" else None)
        found = load_pairs(
            source.root, layout=source.layout, split=source.split, scale=source_scale
        )
        if found[0].scale != scale:
            raise ConfigError(
                f"data.sources.{index}: {source.root} holds x{found[0].scale} pairs, but the"
                f" generator is x{scale}"
            )
        source_bank = bank(source.noise_bank or config.noise_bank) if source.noise else None
        pairs += found
        pair_banks += [source_bank] * len(found)
        share = source.share if source.share is not None else float(len(found))
        weights += [share / len(found)] * len(found)
        summaries.append(
            SourceSummary(
                name=source.name or Path(source.root).name,
                layout=source.layout,
                root=str(source.root),
                split=source.split,
                pairs=len(found),
                share=share,
                noise=f"{source_bank.path} ({len(source_bank)} patches)" if source_bank else "none",
            )
        )
    total = sum(s.share for s in summaries)
    summaries = [dataclasses.replace(s, share=s.share / total) for s in summaries]
    dataset = PairDataset(
        pairs,
        config=TrainingSetConfig(
            hr_patch=config.hr_patch,
            augment=config.augment,
            noise_probability=config.noise_probability,
            seed=seed + 7919 * rank,
            preload=config.preload,
            x1_blur=config.x1_blur,
        ),
        banks=pair_banks,
    )
    workers = config.workers if config.workers is not None else default_workers(device)
    samples = len(dataset)
    if workers > 0:
        samples = max(samples, MIN_BATCHES_PER_EPOCH * config.batch_size)
    generator = torch.Generator()  # reseeded per epoch: it drives the order and the workers
    sampler: Sampler[int]
    if any(source.share is not None for source in config.sources):
        # Shares: draws with replacement; every rank draws its own stream (seeded by rank).
        sampler = WeightedRandomSampler(
            weights, num_samples=max(samples // world, 1), generator=generator
        )
    elif world > 1:
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, seed=seed, drop_last=True
        )
    else:
        sampler = RandomSampler(dataset, num_samples=samples, generator=generator)
    loader = DataLoader(
        dataset,
        batch_size=rank_batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        generator=generator,
    )
    if len(loader) == 0:
        raise ConfigError(
            f"data: {len(dataset)} pairs are fewer than data.batch_size {config.batch_size}"
        )
    return TrainingData(dataset, loader, summaries, world=world)


def epoch_batches(
    data: TrainingData, *, seed: int, rank: int, start_iteration: int
) -> Iterator[dict[str, Any]]:
    """Endless batches; epoch e's order and crops depend only on (seed, e, rank)."""
    loader = data.loader
    per_epoch = len(loader)
    epoch, skip = divmod(start_iteration, per_epoch)
    while True:
        data.dataset.set_epoch(epoch)
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        loader.generator.manual_seed(seed * 1_000_003 + epoch * 101 + rank)
        for index, batch in enumerate(loader):
            if index >= skip:
                yield batch
        epoch, skip = epoch + 1, 0
