"""On a CUDA GPU: upscaling agrees with the CPU, training runs in every precision `auto` can
pick, training batches arrive unchanged, the automatic tile stays indexable. Skipped without a GPU; experiments/device_check.py
runs them (`pytest -m cuda`) on the day one is lent."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from rwsr.models.checkpoint import load_model
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.train.config import load_config
from rwsr.train.data import build_training_data
from rwsr.train.logs import read_log
from rwsr.train.trainer import train
from rwsr.upscale.engine import MAX_TENSOR_ELEMENTS, Upscaler, widest_activation

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
REPO = Path(__file__).resolve().parents[1]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


@pytest.mark.parametrize(
    ("precision", "floor_db"), [("fp32", 50.0), ("bf16", 40.0), ("fp16", 40.0)]
)
def test_the_gpu_upscales_a_photo_as_the_cpu_does(
    photo_rgb: np.ndarray, precision: str, floor_db: float
) -> None:
    model = load_generator(DEFAULT_MODEL).model
    crop = photo_rgb[:96, :128]
    reference = Upscaler(model, device="cpu", precision="fp32").upscale(crop)
    on_gpu = Upscaler(model, device="cuda", precision=precision).upscale(crop)
    assert on_gpu.shape == reference.shape
    assert _psnr(on_gpu, reference) >= floor_db


def test_the_automatic_gpu_tile_keeps_every_activation_indexable() -> None:
    upscaler = Upscaler(load_generator(DEFAULT_MODEL).model, device="cuda")
    window = upscaler.auto_tile() + 2 * upscaler.tile_context  # what the model sees of a tile
    widest = widest_activation(upscaler._exact)
    assert widest * (upscaler.scale * window) ** 2 <= MAX_TENSOR_ELEMENTS


@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16"])
def test_a_short_run_trains_on_the_gpu(city100_crops: Path, tmp_path: Path, precision: str) -> None:
    config = load_config(
        REPO / "configs" / "tiny_cpu.yaml",
        [
            f"data.sources.0.root={city100_crops}",
            f"output_dir={tmp_path}",
            "device=cuda",
            f"precision={precision}",
            "speed.channels_last=true",
        ],
    )
    run_dir = train(config, progress=False)
    records = [r for r in read_log(run_dir / "log.jsonl") if r["kind"] == "train"]
    assert records and all(np.isfinite(r["total"]) for r in records)
    generator = load_model(run_dir / "generator.safetensors").model  # loads on the CPU
    assert all(torch.isfinite(p).all() for p in generator.parameters())


def test_training_batches_reach_the_gpu_pinned_and_unchanged(city100_crops: Path) -> None:
    """Batches copied ahead on a side stream are the CPU's batches; a step's work on one does
    not disturb the copy of the next."""
    config = load_config(
        REPO / "configs" / "tiny_cpu.yaml",
        [f"data.sources.0.root={city100_crops}", "data.workers=2", "data.cache=memory"],
    )
    on_cpu, on_gpu = (
        build_training_data(config.data, scale=1, seed=0, rank=0, world=1, device=torch.device(d))
        for d in ("cpu", "cuda")
    )
    assert on_gpu.loader.pin_memory and not on_cpu.loader.pin_memory
    gpu_batches = on_gpu.batches(start_iteration=0)
    for cpu_batch in itertools.islice(on_cpu.batches(start_iteration=0), 8):
        gpu_batch = next(gpu_batches)
        assert gpu_batch["lr"].is_cuda and gpu_batch["hr"].is_cuda
        (gpu_batch["hr"] @ gpu_batch["hr"].transpose(-1, -2)).sum().item()  # a step's work
        assert torch.equal(gpu_batch["lr"].cpu(), cpu_batch["lr"])
        assert torch.equal(gpu_batch["hr"].cpu(), cpu_batch["hr"])
