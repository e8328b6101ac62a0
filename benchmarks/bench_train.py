"""Training speed on this machine: iterations/s and the share of step time spent waiting for
data, for the tiny preset and for the full paper model (batch 16, HR 128, bf16 autocast).

    python benchmarks/bench_train.py [--iterations 6] [--full-iterations 3]

Needs ../shared/datasets/city100_iphonex_train (real pairs). The perceptual loss runs on a
randomly initialised VGG19 here (no ImageNet weights offline); its cost is the same.
Target: data wait < 10% of step time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from rwsr.cli.common import keep_freed_memory
from rwsr.data.imresize import imresize
from rwsr.imageio import read_image, write_image
from rwsr.train.config import load_config
from rwsr.train.trainer import train

REPO = Path(__file__).resolve().parents[1]
CITY100 = REPO.parent / "shared" / "datasets" / "city100_iphonex_train"


def x4_pairs(folder: Path, count: int = 16) -> Path:
    """Real x4 pairs for the paper model: City100 HR crops (512 px) and their MATLAB-bicubic
    quarter-size versions."""
    for number in range(21, 21 + count):
        hr = np.ascontiguousarray(read_image(CITY100 / f"{number:03d}H.PNG")[:512, :512])
        write_image(folder / "HR" / f"{number:03d}.png", hr)
        write_image(folder / "LR" / f"{number:03d}.png", imresize(hr, 0.25))
    return folder


def measure(name: str, overrides: list[str], iterations: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(
            REPO / "configs" / "tiny_cpu.yaml",
            [
                f"data.sources.0.root={CITY100}",
                f"output_dir={folder}",
                f"optim.iterations={iterations}",
                "log_every=1",
                f"checkpoint_every={10 * iterations}",
                *overrides,
            ],
        )
        run = train(config, progress=False)
        records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steady = [r for r in records if r["kind"] == "train"][1:]  # the first step includes warm-up
    it_per_s = len(steady) / sum(1 / r["it_per_s"] for r in steady)
    wait = sum(r["data_wait"] / r["it_per_s"] for r in steady) / sum(
        1 / r["it_per_s"] for r in steady
    )
    print(
        f"{name}: {it_per_s:.3f} it/s ({1 / it_per_s:.2f} s/it), data wait {100 * wait:.1f}% of step time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--full-iterations", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()  # as the `rwsr` command does
    measure(
        "tiny preset (batch 2, HR 32, fp32, decoded up front)",
        ["data.preload=always"],
        args.iterations,
    )
    with tempfile.TemporaryDirectory() as pairs:
        measure(
            "paper model (rwsr-edl-x4, batch 16, HR 128 / LR 32, bf16, preloaded, no workers)",
            [
                "model.generator=rwsr-edl-x4",
                "model.rrdb=null",
                                                f"data.sources.0.root={x4_pairs(Path(pairs))}",
                "data.sources.0.layout=paired",
                "data.sources.0.split=null",
                "data.sources.0.scale=4",
                "data.batch_size=16",
                "data.hr_patch=128",
                "data.workers=0",  # on 2 cores, worker processes halve the speed (15.3 vs 7.3 s/it)
                "data.preload=always",
                "precision=bf16",
                "loss.vgg_layers={conv5_4: 1.0}",
            ],
            args.full_iterations + 1,
        )


if __name__ == "__main__":
    main()
