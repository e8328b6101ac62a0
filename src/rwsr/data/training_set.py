"""The training Dataset: aligned random crops, dihedral augmentation, noise injection.

A sample is {"lr": 3 x p x p, "hr": 3 x (p*scale) x (p*scale)} float32 RGB tensors in [0, 1]
(the model contract), plus "index" (pair), "crop" (LR top-left y, x) and "noise" (bank patch
index, -1 for none). Crops are aligned: LR (y, x) <-> HR (y*scale, x*scale).

A sample is a function of its key alone: dataset[(index, seed)] is pair `index` cropped,
flipped and noised by a numpy Generator seeded with `seed`. Whoever draws the keys (the
training sampler, rwsr.train.data) decides the randomness, so worker processes hold no
random state: any number of them, started once, give the same samples.

Noise injection (paper Sec. III-E, as in Impressionism): with probability
`noise_probability`, a random p x p crop of a random bank patch, minus its per-channel mean,
is added to the LR crop, which is then clamped to [0, 1]. `banks` is one bank for every pair,
or one entry per pair (None = no noise for that pair), so a run can mix sources.

Clean photos (pairs with `lr` None, layout clean) are pairs by rwsr.data.pairs.make_pair's
recipe: HR = the photo cut to a multiple of the scale (at x1: of `x1_blur`), LR = MATLAB
bicubic HR / scale (at x1: bicubic up(down(HR, x1_blur), x1_blur)). The LR of a crop is made
from the HR pixels around it (rwsr.data.pairs.lr_window), the same values as the whole
photo's LR, at the cost of a 150 px resize instead of a 2K photo's.

Images are read through rwsr.data.decoded_cache (decoded at every read, kept in memory, or
memory-mapped from .npy files); their sizes are known up front, so a pair too small for the
crop is refused when the dataset is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rwsr.data.datasets import ImagePair
from rwsr.data.decoded_cache import DecodedImages
from rwsr.data.ngdc.bank import NoiseBank
from rwsr.data.pairs import PairsConfig, lr_window
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import to_float


class PairDataset(Dataset[dict[str, object]]):
    """Random aligned crops of LR/HR pairs, optionally with noise from a bank; keys are
    (pair index, sample seed). The settings are data.* of a training config
    (rwsr.train.config.DataConfig), where their defaults and ranges live."""

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        *,
        hr_patch: int,
        augment: bool,
        noise_probability: float,
        x1_blur: int,
        images: DecodedImages | None = None,
        banks: NoiseBank | Sequence[NoiseBank | None] | None = None,
    ) -> None:
        """`images` holds every file of `pairs` (None: decoded at every read); `banks` is
        the noise bank of every pair, or one entry per pair (None: no noise for that pair)."""
        if not pairs:
            raise InputError("the training set holds no pairs")
        if banks is None or isinstance(banks, NoiseBank):
            banks = [banks] * len(pairs)
        if len(banks) != len(pairs):
            raise ValueError(f"Expected one bank entry per pair ({len(pairs)}), got {len(banks)}")
        scales = {pair.scale for pair in pairs}
        if len(scales) != 1:
            raise ConfigError(f"the training pairs mix scales {sorted(scales)}; use one scale")
        self.scale = scales.pop()
        if hr_patch % self.scale:
            raise ConfigError(f"HR patch {hr_patch} is not a multiple of the scale {self.scale}")
        self.hr_patch, self.lr_patch = hr_patch, hr_patch // self.scale
        self.augment, self.noise_probability = augment, noise_probability
        self.banks = list(banks)
        for used in {id(b): b for b in self.banks if b is not None}.values():
            if used.patch < self.lr_patch:
                raise ConfigError(
                    f"{used.path}: bank patches are {used.patch} px, smaller than the LR crop of "
                    f"{self.lr_patch} px; collect the bank with --patch >= {self.lr_patch}"
                )
        self.pairs = list(pairs)
        self.images = images or DecodedImages(image_paths(self.pairs))
        self.clean_recipe = PairsConfig(scale=self.scale, cleanup=1, x1_blur=x1_blur)
        self.lr_sizes = [self._lr_size(pair) for pair in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def _lr_size(self, pair: ImagePair) -> tuple[int, int]:
        """(height, width) of the pair's LR, checked against its HR and the crop."""
        s = self.scale
        hr_height, hr_width = self.images.size(pair.hr)
        if pair.lr is None:  # make_pair's HR: cut to whole steps
            step = self.clean_recipe.hr_multiple
            height, width = hr_height // step * step // s, hr_width // step * step // s
        else:
            height, width = self.images.size(pair.lr)
            if (height * s, width * s) != (hr_height, hr_width):
                raise InputError(
                    f"{pair.lr}: LR {width}x{height} x{s} does not match HR {pair.hr}"
                    f" {hr_width}x{hr_height}"
                )
        if min(height, width) < self.lr_patch:
            raise InputError(
                f"{pair.lr or pair.hr}: LR image {width}x{height} is smaller than the LR crop "
                f"of {self.lr_patch} px (HR patch {self.hr_patch})"
            )
        return height, width

    def crop(self, index: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """The LR window of pair `index` at (y, x) and its HR window, in the files' integer
        type; a clean photo's LR window is made from the HR around it."""
        pair, p, s = self.pairs[index], self.lr_patch, self.scale
        hr = self.images.read(pair.hr)
        if pair.lr is None:
            height, width = self.lr_sizes[index]
            hr = hr[: height * s, : width * s]
            lr = lr_window(hr, y, x, p, config=self.clean_recipe)
        else:
            lr = self.images.read(pair.lr)[y : y + p, x : x + p]
        return lr, hr[y * s : (y + p) * s, x * s : (x + p) * s]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, object]:
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError(f"Expected a (pair index, sample seed) key, but got {key!r}")
        index, seed = key
        rng = np.random.default_rng(seed)
        p = self.lr_patch
        height, width = self.lr_sizes[index]
        y = int(rng.integers(0, height - p + 1))
        x = int(rng.integers(0, width - p + 1))
        lr_pixels, hr_pixels = self.crop(index, y, x)
        lr_crop, hr_crop = to_float(lr_pixels), to_float(hr_pixels)
        if self.augment:
            hflip, vflip, transpose = (bool(b) for b in rng.integers(0, 2, size=3))
            lr_crop = _dihedral(lr_crop, hflip, vflip, transpose)
            hr_crop = _dihedral(hr_crop, hflip, vflip, transpose)
        noise_index = -1
        bank = self.banks[index]
        if bank is not None and rng.random() < self.noise_probability:
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


def image_paths(pairs: Sequence[ImagePair]) -> list[Path]:
    """Every file the pairs read, each once."""
    return list(dict.fromkeys(path for pair in pairs for path in (pair.lr, pair.hr) if path))


def _dihedral(image: np.ndarray, hflip: bool, vflip: bool, transpose: bool) -> np.ndarray:
    """One of the 8 flips/90-degree rotations of an HxWxC array."""
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if transpose:
        image = image.transpose(1, 0, 2)
    return image
