"""The training Dataset: aligned crops, augmentation, noise injection, samples as functions of
their keys, clean photos cropped before their LR is made, and the decoded-image cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from rwsr.data.datasets import ImagePair, load_pairs
from rwsr.data.decoded_cache import DecodedImages
from rwsr.data.ngdc.bank import open_bank
from rwsr.data.ngdc.cati import NoiseSamplingConfig
from rwsr.data.ngdc.collect import collect_noise
from rwsr.data.pairs import PairsConfig, make_pair
from rwsr.data.training_set import PairDataset, image_paths
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image, to_float, write_image
from rwsr.train.config import DataConfig

SETTINGS = ("hr_patch", "augment", "noise_probability", "x1_blur")


def make_dataset(pairs: list[ImagePair], **settings: object) -> PairDataset:
    """A PairDataset with data.*'s defaults (DataConfig, their one place) but for `settings`."""
    defaults = {name: DataConfig.model_fields[name].default for name in SETTINGS}
    return PairDataset(pairs, **(defaults | settings))


def block_mean_pair(folder: Path, name: str, seed: int, scale: int = 4) -> ImagePair:
    """HR random, LR = rounded scale x scale block means: a relation that flips and rotations keep."""
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    lr = hr.reshape(16, scale, 24, scale, 3).astype(np.float64).mean(axis=(1, 3))
    write_image(folder / "HR" / name, hr)
    write_image(folder / "LR" / name, np.rint(lr).astype(np.uint8))
    return ImagePair(name, folder / "LR" / name, folder / "HR" / name, scale)


def test_crops_stay_aligned_through_flips_and_rotations(tmp_path: Path) -> None:
    pairs = [block_mean_pair(tmp_path, f"{k}.png", k) for k in range(3)]
    dataset = make_dataset(pairs, hr_patch=32)
    seen_orientations = set()
    for k in range(24):
        sample = dataset[(k % 3, k)]
        lr, hr = sample["lr"], sample["hr"]
        assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32) and lr.dtype == torch.float32
        pooled = torch.nn.functional.avg_pool2d(hr[None], 4)[0]
        assert (lr - pooled).abs().max() <= 0.5 / 255 + 1e-6
        seen_orientations.add(tuple(hr[0, 0, :2].tolist()))
    assert len(seen_orientations) > 8  # crops and orientations vary


def test_unaugmented_crop_is_the_real_city100_region(city100_crops: Path) -> None:
    pairs = load_pairs(city100_crops, layout="city100")[:2]
    dataset = make_dataset(pairs, hr_patch=64, augment=False)
    sample = dataset[(1, 5)]
    y, x = sample["crop"]
    lr = to_float(read_image(pairs[1].lr))[y : y + 64, x : x + 64]
    hr = to_float(read_image(pairs[1].hr))[y : y + 64, x : x + 64]
    assert np.array_equal(sample["lr"].numpy(), lr.transpose(2, 0, 1))
    assert np.array_equal(sample["hr"].numpy(), hr.transpose(2, 0, 1))


def test_a_sample_is_a_function_of_its_key_through_any_number_of_workers(tmp_path: Path) -> None:
    """The same keys give the same samples in the main process, through two workers and in
    another order; another seed gives another crop of the same pair."""
    pair = block_mean_pair(tmp_path, "same.png", 0)
    dataset = make_dataset([pair] * 4, hr_patch=16)
    keys = [(k % 4, 1000 + k) for k in range(12)]

    def crops(workers: int, order: list[tuple[int, int]]) -> dict[tuple[int, int], tuple]:
        loader = DataLoader(dataset, batch_size=None, sampler=order, num_workers=workers)
        return {key: (tuple(sample["crop"]), sample["hr"]) for key, sample in zip(order, loader)}

    main = crops(0, keys)
    for key, (crop, hr) in crops(2, keys[::-1]).items():
        assert crop == main[key][0] and torch.equal(hr, main[key][1])
    assert len({crop for crop, _ in main.values()}) > 6
    with pytest.raises(TypeError, match=r"Expected a \(pair index, sample seed\) key"):
        dataset[0]


@pytest.fixture
def bank_dir(noisy_folder: Callable[..., Path], tmp_path: Path) -> Path:
    source = noisy_folder("noise", [8.0, 8.0])
    collect_noise(
        source,
        tmp_path / "bank",
        config=NoiseSamplingConfig(patch=32, percentile=20),
        progress=False,
    )
    return tmp_path / "bank"


def flat_pair(folder: Path, level: int) -> ImagePair:
    write_image(folder / "HR" / "flat.png", np.full((64, 64, 3), level, np.uint8))
    write_image(folder / "LR" / "flat.png", np.full((16, 16, 3), level, np.uint8))
    return ImagePair("flat", folder / "LR" / "flat.png", folder / "HR" / "flat.png", 4)


def test_noise_injection_adds_zero_mean_bank_noise_and_clamps(
    bank_dir: Path, tmp_path: Path
) -> None:
    bank = open_bank(bank_dir)
    dataset = make_dataset([flat_pair(tmp_path, 128)], hr_patch=64, banks=bank)
    residuals = []
    for seed in range(20):
        sample = dataset[(0, seed)]
        assert sample["noise"] >= 0
        residual = sample["lr"] - 128 / 255
        assert residual.mean(dim=(1, 2)).abs().max() < 1e-6  # per-channel mean removed
        residuals.append(residual)
        assert torch.equal(sample["hr"], torch.full((3, 64, 64), 128 / 255))
    std = torch.stack(residuals).std().item() * 255
    assert 6.5 < std < 9.5  # the sigma 8 of the bank's source images

    bright = make_dataset([flat_pair(tmp_path / "b", 254)], hr_patch=64, banks=bank)
    assert bright[(0, 0)]["lr"].max() <= 1.0

    half = make_dataset(
        [flat_pair(tmp_path / "h", 128)], hr_patch=64, noise_probability=0.5, banks=bank
    )
    noisy = sum(half[(0, seed)]["noise"] >= 0 for seed in range(200))
    assert 70 < noisy < 130


def test_banks_takes_one_bank_or_one_entry_per_pair(bank_dir: Path, tmp_path: Path) -> None:
    bank = open_bank(bank_dir)
    pairs = [flat_pair(tmp_path / "a", 128), flat_pair(tmp_path / "b", 128)]
    assert make_dataset(pairs, hr_patch=64, banks=bank).banks == [bank, bank]
    mixed = make_dataset(pairs, hr_patch=64, banks=[None, bank])
    assert all(mixed[(0, seed)]["noise"] == -1 for seed in range(10))
    assert all(mixed[(1, seed)]["noise"] >= 0 for seed in range(10))
    assert make_dataset(pairs, hr_patch=64).banks == [None, None]
    with pytest.raises(ValueError, match=r"one bank entry per pair \(2\), got 1"):
        make_dataset(pairs, hr_patch=64, banks=[bank])


def test_configuration_errors_are_clear(bank_dir: Path, tmp_path: Path) -> None:
    pair = flat_pair(tmp_path, 100)
    with pytest.raises(
        ConfigError, match="bank patches are 32 px, smaller than the LR crop of 48 px"
    ):
        make_dataset([pair], hr_patch=192, banks=open_bank(bank_dir))
    with pytest.raises(ConfigError, match="HR patch 30 is not a multiple of the scale 4"):
        make_dataset([pair], hr_patch=30)
    with pytest.raises(InputError, match="holds no pairs"):
        make_dataset([])
    message = r"flat.png: LR image 16x16 is smaller than the LR crop of 32 px"
    with pytest.raises(InputError, match=message):  # from the headers, before any sample
        make_dataset([pair], hr_patch=128)


def test_clean_photos_are_cropped_before_their_lr_is_made(
    city100_crops: Path, tmp_path: Path
) -> None:
    """A clean photo's LR window, made from the HR around it, is make_pair's whole LR
    cropped: at x4, and at x1 (blurred by 2) on a photo with odd sides."""
    odd = tmp_path / "odd.png"
    write_image(odd, np.ascontiguousarray(read_image(city100_crops / "033H.PNG")[:255, :299]))
    for scale, path in ((4, city100_crops / "021H.PNG"), (1, odd)):
        pair = ImagePair(path.stem, None, path, scale)
        dataset = make_dataset([pair], hr_patch=32 * scale, augment=False)
        hr, lr = make_pair(read_image(path), config=PairsConfig(scale=scale, cleanup=1))
        assert dataset.lr_sizes[0] == lr.shape[:2]
        for seed in range(10):
            sample = dataset[(0, seed)]
            y, x = sample["crop"]
            expected_lr = to_float(lr[y : y + 32, x : x + 32]).transpose(2, 0, 1)
            assert np.array_equal(sample["lr"].numpy(), expected_lr)
            hr_crop = hr[y * scale : (y + 32) * scale, x * scale : (x + 32) * scale]
            assert np.array_equal(sample["hr"].numpy(), to_float(hr_crop).transpose(2, 0, 1))


def test_every_cache_gives_the_bytes_decoding_gives(city100_crops: Path, tmp_path: Path) -> None:
    """Crops out of memory and out of memory-mapped .npy files are byte for byte the crops of
    the decoded files, for real pairs and for clean photos."""
    pairs = load_pairs(city100_crops, layout="city100")[:3]
    pairs.append(ImagePair("clean", None, pairs[0].hr, 1))
    caches = {
        mode: DecodedImages(image_paths(pairs), mode=mode, cache_dir=tmp_path / "cache")
        for mode in ("none", "memory", "disk")
    }
    datasets = {mode: make_dataset(pairs, hr_patch=48, images=c) for mode, c in caches.items()}
    assert isinstance(caches["disk"].read(pairs[0].hr), np.memmap)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 6  # each file once
    for index, pair in enumerate(pairs):
        if pair.lr is not None:
            decoded_lr = read_image(pair.lr)
            assert np.array_equal(caches["disk"].read(pair.lr), decoded_lr)
        for y, x in ((0, 0), (7, 31), (40, 11)):
            reference = datasets["none"].crop(index, y, x)
            for mode in ("memory", "disk"):
                for got, expected in zip(datasets[mode].crop(index, y, x), reference, strict=True):
                    assert got.dtype == expected.dtype and np.array_equal(got, expected)
        for seed in range(3):
            samples = [dataset[(index, seed)] for dataset in datasets.values()]
            assert all(torch.equal(s["lr"], samples[0]["lr"]) for s in samples)


def test_an_edited_image_gets_a_new_cache_entry_that_replaces_the_old(tmp_path: Path) -> None:
    pair = block_mean_pair(tmp_path, "a.png", 0)
    cache = tmp_path / "cache"
    DecodedImages([pair.hr], mode="disk", cache_dir=cache)
    (first,) = cache.glob("*.npy")
    written = first.stat().st_mtime_ns
    DecodedImages([pair.hr], mode="disk", cache_dir=cache)  # found, not written again
    assert list(cache.glob("*.npy")) == [first] and first.stat().st_mtime_ns == written
    stat = pair.hr.stat()
    edited = np.zeros((64, 96, 3), np.uint8)
    write_image(pair.hr, edited, overwrite=True)
    os.utime(pair.hr, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later edit
    images = DecodedImages([pair.hr], mode="disk", cache_dir=cache)
    (second,) = cache.glob("*.npy")
    assert second != first and np.array_equal(images.read(pair.hr), edited)
