"""The training data of a run: its sources, mixed by their shares, into one DataLoader.

Each source of `data.sources` is one data set in its own layout (real pairs, `rwsr pairs` or
`rwsr ngdc` output, clean photos); each gets the noise bank of `data.noise_bank` (or its own),
or none. With shares, a sample comes from source i with probability share_i (pairs drawn with
replacement); without, every pair is drawn once per epoch (a permutation).

Exact resume: the sampler draws the keys (pair index, sample seed) of epoch e from (seed, e,
rank) alone, and a sample is a function of its key (rwsr.data.training_set), so a resumed run
re-creates epoch e and starts at the first batch not yet used. The worker processes hold no
state an epoch changes: they start once per run, and their number never changes a sample.
Decoded images live where `data.cache` says (rwsr.data.decoded_cache). On a GPU, batches come
pinned and the next one is copied to the GPU on a side stream while the step runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from rwsr.data.datasets import ImagePair, load_pairs
from rwsr.data.decoded_cache import CacheMode, DecodedImages, decoded_bytes
from rwsr.data.ngdc.bank import NoiseBank, open_bank
from rwsr.data.training_set import PairDataset, image_paths
from rwsr.errors import ConfigError
from rwsr.train.config import DataConfig


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


class SampleDraws(Sampler[tuple[int, int]]):
    """The keys (pair index, sample seed) one process trains on, epoch after epoch, without
    end. Epoch e is a function of (seed, e, rank): with `weights` (shares), pairs // world
    draws with replacement, each process its own; without, one permutation of all pairs
    shared by the processes, each taking every world-th pair. An epoch holds whole batches
    (the rest of its draws is dropped); iteration starts at sample `start`."""

    def __init__(
        self,
        *,
        pairs: int,
        weights: Sequence[float] | None,
        seed: int,
        rank: int,
        world: int,
        batch: int,
    ) -> None:
        self.pairs, self.seed, self.rank, self.world = pairs, seed, rank, world
        self.probabilities = None if weights is None else np.asarray(weights) / sum(weights)
        self.per_epoch = pairs // world // batch * batch
        self.start = 0

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair indices and sample seeds of `epoch` on this process."""
        # [seed, epoch, 0] orders the pairs for every process; [seed, epoch, 1, rank] is ours.
        draws = np.random.default_rng([self.seed, epoch, 1, self.rank])
        if self.probabilities is not None:
            indices = draws.choice(self.pairs, size=self.per_epoch, p=self.probabilities)
        else:
            order = np.random.default_rng([self.seed, epoch, 0]).permutation(self.pairs)
            indices = order[self.rank :: self.world][: self.per_epoch]
        return indices, draws.integers(0, 2**63, size=self.per_epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_epoch)
        while True:
            indices, seeds = self.epoch(epoch)
            for index, seed in zip(indices[offset:], seeds[offset:], strict=True):
                yield int(index), int(seed)
            epoch, offset = epoch + 1, 0


@dataclasses.dataclass(frozen=True)
class TrainingData:
    dataset: PairDataset
    loader: DataLoader  # endless batches of this process: its share of data.batch_size
    draws: SampleDraws
    sources: list[SourceSummary]
    world: int  # processes that share each batch
    device: torch.device

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
        lines.append(f"images: {self.dataset.images.describe()}")
        return "\n".join(lines)

    def batches(self, *, start_iteration: int) -> Iterator[dict[str, Any]]:
        """Endless batches, from the one of iteration start_iteration + 1 on; on a CUDA
        device their tensors are on it already."""
        self.draws.start = start_iteration * self.loader.batch_size
        batches = iter(self.loader)
        return _copied_ahead(batches, self.device) if self.device.type == "cuda" else batches


def _copied_ahead(batches: Iterator[dict[str, Any]], device: torch.device) -> Iterator[dict]:
    """`batches` with their tensors on the GPU `device`: each batch is copied on a side
    stream while the step before it runs (the loader pins them, so the copy is
    asynchronous), and the step's stream waits for the copy before it reads it."""
    stream = torch.cuda.Stream(device)

    def copy(batch: dict[str, Any]) -> dict[str, Any]:
        with torch.cuda.stream(stream):
            return {
                key: value.to(device, non_blocking=True)
                if isinstance(value, torch.Tensor)
                else value
                for key, value in batch.items()
            }

    upcoming = copy(next(batches))
    while True:
        current = torch.cuda.current_stream(device)
        current.wait_stream(stream)
        batch = upcoming
        for value in batch.values():
            if isinstance(value, torch.Tensor):  # its memory is in use until the step is
                value.record_stream(current)
        upcoming = copy(next(batches))
        yield batch


def default_workers(device: torch.device) -> int:
    """0 on a CPU: worker processes compete with the bf16 matrix units (measured: 2 workers
    doubled the step time on 2 cores); 4 on a GPU, which waits for data otherwise."""
    return 0 if device.type == "cpu" else 4


def cache_mode(config: DataConfig, pairs: Sequence[ImagePair], world: int) -> CacheMode:
    """data.cache, with 'auto' resolved: in memory when one process holds the set within
    data.cache_memory_mb, else on disk, where every process of the machine shares it."""
    if config.cache != "auto":
        return config.cache
    fits = decoded_bytes(image_paths(pairs)) <= config.cache_memory_mb * 2**20
    return "memory" if world == 1 and fits else "disk"


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
    paths = image_paths(pairs)
    images = DecodedImages(
        paths,
        mode=cache_mode(config, pairs, world),
        cache_dir=config.cache_dir,
        first=rank * len(paths) // world,
    )
    dataset = PairDataset(
        pairs,
        hr_patch=config.hr_patch,
        augment=config.augment,
        noise_probability=config.noise_probability,
        x1_blur=config.x1_blur,
        images=images,
        banks=pair_banks,
    )
    shares = any(source.share is not None for source in config.sources)
    draws = SampleDraws(
        pairs=len(dataset),
        weights=weights if shares else None,
        seed=seed,
        rank=rank,
        world=world,
        batch=rank_batch,
    )
    if draws.per_epoch == 0:
        raise ConfigError(
            f"data: {len(dataset)} pairs are fewer than data.batch_size {config.batch_size}"
        )
    workers = config.workers if config.workers is not None else default_workers(device)
    loader = DataLoader(
        dataset,
        batch_size=rank_batch,
        sampler=draws,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
        # Workers' seeds (unused) come from here, not from torch's RNG, whose state resumes.
        generator=torch.Generator(),
    )
    return TrainingData(dataset, loader, draws, summaries, world=world, device=device)
