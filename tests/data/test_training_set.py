"""The training Dataset: aligned crops, augmentation, noise injection, worker streams."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from rwsr.data.datasets import ImagePair, load_pairs
from rwsr.data.ngdc.bank import open_bank
from rwsr.data.ngdc.cati import NoiseSamplingConfig
from rwsr.data.ngdc.collect import collect_noise
from rwsr.data.training_set import PairDataset, TrainingSetConfig
from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image, to_float, write_image


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
    dataset = PairDataset(pairs, config=TrainingSetConfig(hr_patch=32))
    seen_orientations = set()
    for k in range(24):
        sample = dataset[k % 3]
        lr, hr = sample["lr"], sample["hr"]
        assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32) and lr.dtype == torch.float32
        pooled = torch.nn.functional.avg_pool2d(hr[None], 4)[0]
        assert (lr - pooled).abs().max() <= 0.5 / 255 + 1e-6
        seen_orientations.add(tuple(hr[0, 0, :2].tolist()))
    assert len(seen_orientations) > 8  # crops and orientations vary


def test_unaugmented_crop_is_the_real_city100_region(city100_crops: Path) -> None:
    pairs = load_pairs(city100_crops, layout="city100")[:2]
    dataset = PairDataset(pairs, config=TrainingSetConfig(hr_patch=64, augment=False))
    sample = dataset[1]
    y, x = sample["crop"]
    lr = to_float(read_image(pairs[1].lr))[y : y + 64, x : x + 64]
    hr = to_float(read_image(pairs[1].hr))[y : y + 64, x : x + 64]
    assert np.array_equal(sample["lr"].numpy(), lr.transpose(2, 0, 1))
    assert np.array_equal(sample["hr"].numpy(), hr.transpose(2, 0, 1))


def crops(seed: int, dataset: PairDataset, epochs: int = 1) -> list[list[tuple[int, int]]]:
    torch.manual_seed(seed)
    loader = DataLoader(dataset, batch_size=1, num_workers=2, shuffle=False)
    return [[(int(b["crop"][0]), int(b["crop"][1])) for b in loader] for _ in range(epochs)]


def test_workers_draw_different_streams_reproducibly(tmp_path: Path) -> None:
    pair = block_mean_pair(tmp_path, "same.png", 0)
    dataset = PairDataset([pair] * 12, config=TrainingSetConfig(hr_patch=16))
    first, second = crops(0, dataset, epochs=2)
    assert first[0::2] != first[1::2]  # worker 0 and worker 1 (samples alternate)
    assert first != second  # a new epoch gives new crops
    assert crops(0, dataset, epochs=2) == [first, second]  # same torch seed, same crops
    assert crops(1, dataset)[0] != first


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
    dataset = PairDataset(
        [flat_pair(tmp_path, 128)], config=TrainingSetConfig(hr_patch=64), bank=bank
    )
    residuals = []
    for _ in range(20):
        sample = dataset[0]
        assert sample["noise"] >= 0
        residual = sample["lr"] - 128 / 255
        assert residual.mean(dim=(1, 2)).abs().max() < 1e-6  # per-channel mean removed
        residuals.append(residual)
        assert torch.equal(sample["hr"], torch.full((3, 64, 64), 128 / 255))
    std = torch.stack(residuals).std().item() * 255
    assert 6.5 < std < 9.5  # the sigma 8 of the bank's source images

    bright = PairDataset(
        [flat_pair(tmp_path / "b", 254)], config=TrainingSetConfig(hr_patch=64), bank=bank
    )
    assert bright[0]["lr"].max() <= 1.0

    half = PairDataset(
        [flat_pair(tmp_path / "h", 128)],
        config=TrainingSetConfig(hr_patch=64, noise_probability=0.5),
        bank=bank,
    )
    noisy = sum(half[0]["noise"] >= 0 for _ in range(200))
    assert 70 < noisy < 130


def test_configuration_errors_are_clear(bank_dir: Path, tmp_path: Path) -> None:
    pair = flat_pair(tmp_path, 100)
    with pytest.raises(
        ConfigError, match="bank patches are 32 px, smaller than the LR crop of 48 px"
    ):
        PairDataset([pair], config=TrainingSetConfig(hr_patch=192), bank=open_bank(bank_dir))
    with pytest.raises(ConfigError, match="HR patch 30 is not a multiple of the scale 4"):
        PairDataset([pair], config=TrainingSetConfig(hr_patch=30))
    with pytest.raises(InputError, match="holds no pairs"):
        PairDataset([])
    message = r"flat.png: LR image 16x16 is smaller than the LR crop of 32 px"
    with pytest.raises(InputError, match=message):
        PairDataset([pair], config=TrainingSetConfig(hr_patch=128))  # preloading checks early
    lazy = PairDataset([pair], config=TrainingSetConfig(hr_patch=128, preload="never"))
    with pytest.raises(InputError, match=message):
        lazy[0]


def test_preloading_changes_speed_not_samples(tmp_path: Path) -> None:
    pairs = [block_mean_pair(tmp_path, f"{k}.png", k) for k in range(3)]
    config = TrainingSetConfig(hr_patch=16)
    auto = PairDataset(pairs, config=config)
    never = PairDataset(pairs, config=config.model_copy(update={"preload": "never"}))
    limited = PairDataset(pairs, config=config.model_copy(update={"preload_limit_mb": 0}))
    assert auto.preloaded and not never.preloaded and not limited.preloaded
    for k in range(6):
        a, b = auto[k % 3], never[k % 3]
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])


def test_decoded_cache_gives_the_same_samples_and_follows_edits(tmp_path: Path) -> None:
    pairs = [block_mean_pair(tmp_path, f"{k}.png", k) for k in range(2)]
    base = TrainingSetConfig(hr_patch=16, preload="never")
    cached = PairDataset(pairs, config=base.model_copy(update={"cache_dir": tmp_path / "cache"}))
    plain = PairDataset(pairs, config=base)
    for k in range(4):
        a, b = cached[k % 2], plain[k % 2]
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 4  # one per image, reused
    write_image(pairs[0].hr, np.zeros((64, 96, 3), np.uint8), overwrite=True)
    assert cached[0]["hr"].max() == 0  # the edited file is decoded again
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 5
