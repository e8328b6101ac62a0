"""The training Dataset: aligned random crops, dihedral augmentation, noise injection.

A sample is {"lr": 3 x p x p, "hr": 3 x (p*scale) x (p*scale)} float32 RGB tensors in [0, 1]
(the model contract), plus "index" (pair), "crop" (LR top-left y, x) and "noise" (bank patch
index, -1 for none). Crops are aligned: LR (y, x) <-> HR (y*scale, x*scale).

Noise injection (paper Sec. III-E, as in Impressionism): with probability
`noise_probability`, a random p x p crop of a random bank patch, minus its per-channel mean,
is added to the LR crop, which is then clamped to [0, 1]. One bank serves every pair, or each
pair has its own (`banks`; None = no noise for that pair), so a run can mix sources.

Clean photos (pairs with `lr` None, layout clean) become pairs when decoded, by
rwsr.data.pairs.make_pair: HR = the photo cropped to a multiple of the scale, LR = MATLAB
bicubic HR / scale, at x1 bicubic up(down(HR, x1_blur), x1_blur).

Decoding: a full PNG decode per sample is slow (about 30 samples/s per core on 840x600
City100 pairs), so sets whose decoded size fits `preload_limit_mb` are decoded once, up front,
and shared by the DataLoader workers (forked, copy-on-write). Larger sets can keep decoded
copies in `cache_dir` (rwsr.data.decoded_cache): decoded once, then cropped memory-mapped.

Randomness: every process draws from its own numpy Generator seeded from (config.seed, the
epoch given to `set_epoch`, the DataLoader worker's seed). Worker seeds differ per worker and
per epoch and derive from torch's global seed (or the DataLoader's generator), so workers never
repeat each other's crops, and a run is reproducible. Without workers, one Generator per
epoch, seeded by (config.seed, epoch), runs on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import Dataset, get_worker_info

from rwsr.data.datasets import ImagePair
from rwsr.data.decoded_cache import cached_image
from rwsr.data.ngdc.bank import NoiseBank
from rwsr.data.pairs import PairsConfig, make_pair
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import image_size, read_image, to_float


class TrainingSetConfig(BaseModel):
    """Crop and augmentation settings; defaults are the paper's (HR 128, flips, rotations)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hr_patch: int = Field(128, ge=4, description="HR crop side; LR crop = hr_patch / scale")
    augment: bool = Field(True, description="random flips and 90-degree rotations")
    noise_probability: float = Field(1.0, ge=0, le=1, description="chance of noise injection")
    seed: int = Field(0, ge=0, description="base seed of the per-process generators")
    preload: Literal["auto", "always", "never"] = Field(
        "auto", description="decode every image once, up front ('auto': if it fits the limit)"
    )
    preload_limit_mb: int = Field(2048, ge=0, description="decoded size 'auto' may preload")
    x1_blur: int = Field(2, ge=1, le=8, description="clean photos at x1: LR blur factor")
    cache_dir: Path | None = Field(
        None, description="without preloading: keep decoded copies here, read memory-mapped"
    )


class PairDataset(Dataset[dict[str, object]]):
    """Random aligned crops of LR/HR pairs, optionally with noise from a bank."""

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        *,
        config: TrainingSetConfig | None = None,
        bank: NoiseBank | None = None,
        banks: Sequence[NoiseBank | None] | None = None,
    ) -> None:
        """`bank` serves every pair; `banks` (one entry per pair) replaces it."""
        config = config or TrainingSetConfig()
        if not pairs:
            raise InputError("the training set holds no pairs")
        if banks is not None and len(banks) != len(pairs):
            raise ValueError(f"Expected one bank entry per pair ({len(pairs)}), got {len(banks)}")
        scales = {pair.scale for pair in pairs}
        if len(scales) != 1:
            raise ConfigError(f"the training pairs mix scales {sorted(scales)}; use one scale")
        self.scale = scales.pop()
        if config.hr_patch % self.scale:
            raise ConfigError(
                f"HR patch {config.hr_patch} is not a multiple of the scale {self.scale}"
            )
        self.lr_patch = config.hr_patch // self.scale
        self.banks = list(banks) if banks is not None else [bank] * len(pairs)
        for used in {id(b): b for b in self.banks if b is not None}.values():
            if used.patch < self.lr_patch:
                raise ConfigError(
                    f"{used.path}: bank patches are {used.patch} px, smaller than the LR crop of "
                    f"{self.lr_patch} px; collect the bank with --patch >= {self.lr_patch}"
                )
        self.pairs = list(pairs)
        self.config = config
        self._images: list[tuple[np.ndarray, np.ndarray]] | None = None
        if self._should_preload():
            self._images = self._preload()
        self._rng: np.random.Generator | None = None
        self._rng_key: tuple[int, int | None, int] | None = None
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def preloaded(self) -> bool:
        return self._images is not None

    def set_epoch(self, epoch: int) -> None:
        """Restart the random stream at epoch `epoch`: its crops then depend only on (seed,
        epoch, worker seed), which is what lets a resumed training run re-create them."""
        self._epoch = epoch

    def _generator(self) -> np.random.Generator:
        info = get_worker_info()
        key = (os.getpid(), info.seed if info is not None else None, self._epoch)
        if self._rng is None or self._rng_key != key:
            entropy = [self.config.seed, self._epoch]
            if info is not None:
                entropy.append(info.seed)
            self._rng = np.random.default_rng(np.random.SeedSequence(entropy))
            self._rng_key = key
        return self._rng

    def _should_preload(self) -> bool:
        if self.config.preload != "auto":
            return self.config.preload == "always"
        pixels = sum(w * h for pair in self.pairs for w, h in [image_size(pair.hr)])
        decoded_mb = pixels * 3 * (1 + 1 / self.scale**2) / 2**20  # 8-bit HR + LR
        return decoded_mb <= self.config.preload_limit_mb

    def _preload(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode all pairs on threads (the decoder releases the GIL); workers forked later
        share these arrays copy-on-write."""
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            return list(pool.map(self._decode, range(len(self.pairs))))

    def _decode(self, index: int, *, cached: bool = False) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[index]
        cache = cached and self.config.cache_dir is not None
        read = (lambda path: cached_image(path, self.config.cache_dir)) if cache else read_image
        if pair.lr is None:
            recipe = PairsConfig(scale=self.scale, cleanup=1, x1_blur=self.config.x1_blur)
            hr, lr = make_pair(read(pair.hr), config=recipe)
        else:
            lr, hr = read(pair.lr), read(pair.hr)
        if (lr.shape[0] * self.scale, lr.shape[1] * self.scale) != hr.shape[:2]:
            raise InputError(
                f"{pair.lr}: LR {lr.shape[1]}x{lr.shape[0]} x{self.scale} does not match HR "
                f"{pair.hr} {hr.shape[1]}x{hr.shape[0]}"
            )
        if min(lr.shape[:2]) < self.lr_patch:
            raise InputError(
                f"{pair.lr}: LR image {lr.shape[1]}x{lr.shape[0]} is smaller than the LR crop "
                f"of {self.lr_patch} px (HR patch {self.config.hr_patch})"
            )
        return lr, hr

    def __getitem__(self, index: int) -> dict[str, object]:
        rng = self._generator()
        if self._images is not None:
            lr, hr = self._images[index]
        else:
            lr, hr = self._decode(index, cached=True)
        p, s = self.lr_patch, self.scale
        y = int(rng.integers(0, lr.shape[0] - p + 1))
        x = int(rng.integers(0, lr.shape[1] - p + 1))
        lr_crop = to_float(lr[y : y + p, x : x + p])
        hr_crop = to_float(hr[y * s : (y + p) * s, x * s : (x + p) * s])
        if self.config.augment:
            hflip, vflip, transpose = (bool(b) for b in rng.integers(0, 2, size=3))
            lr_crop = _dihedral(lr_crop, hflip, vflip, transpose)
            hr_crop = _dihedral(hr_crop, hflip, vflip, transpose)
        noise_index = -1
        bank = self.banks[index]
        if bank is not None and rng.random() < self.config.noise_probability:
            noise_index = int(rng.integers(0, len(bank)))
            ny = int(rng.integers(0, bank.patch - p + 1))
            nx = int(rng.integers(0, bank.patch - p + 1))
            noise = to_float(np.asarray(bank.patches[noise_index, ny : ny + p, nx : nx + p]))
            noise -= noise.mean(axis=(0, 1), keepdims=True)
            lr_crop = np.clip(lr_crop + noise, 0.0, 1.0)
        return {
            "lr": torch.from_numpy(np.ascontiguousarray(lr_crop.transpose(2, 0, 1))),
            "hr": torch.from_numpy(np.ascontiguousarray(hr_crop.transpose(2, 0, 1))),
            "index": index,
            "crop": (y, x),
            "noise": noise_index,
        }


def _dihedral(image: np.ndarray, hflip: bool, vflip: bool, transpose: bool) -> np.ndarray:
    """One of the 8 flips/90-degree rotations of an HxWxC array."""
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if transpose:
        image = image.transpose(1, 0, 2)
    return image
