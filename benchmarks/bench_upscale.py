"""Upscaling speed and memory on this machine, as ratios measured in the same run.

    python benchmarks/bench_upscale.py            # speed: 300x200 input at x4 (paper Table VI)
    python benchmarks/bench_upscale.py --memory   # peak RSS for a 2000x1500 input at x4

Speed compares the engine's fastest setting (auto precision: bf16 on AMX CPUs, channels_last,
auto tile) with a plain fp32 PyTorch forward of the same network on the same input, and the
PSNR between the two outputs (RGB, 8-bit, whole image, no border crop). Targets: >= 5x,
>= 45 dB; stretch: >= 0.76 frames/s (the paper's V100 figure). Memory target: <= 3 GB.
"""

from __future__ import annotations

import argparse
import copy
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rwsr.imageio import from_float, read_image
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.upscale.engine import Upscaler

REPO = Path(__file__).resolve().parents[1]
CITY100 = REPO.parent / "shared" / "datasets" / "city100_iphonex_train" / "030L.PNG"
SAMPLE = REPO / "src" / "rwsr" / "assets" / "sample.png"


def test_photo(width: int, height: int) -> np.ndarray:
    """A real photo of the requested size: a City100 crop when available, else the bundled
    sample resized (bicubic)."""
    if CITY100.exists() and width <= 840 and height <= 600:
        return np.ascontiguousarray(read_image(CITY100)[300 : 300 + height, 400 : 400 + width])
    return cv2.resize(read_image(SAMPLE), (width, height), interpolation=cv2.INTER_CUBIC)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def speed(rounds: int) -> None:
    """fp32 and engine runs alternate, and each keeps its best time, so load from other
    processes on a shared machine biases neither side."""
    model = load_generator(DEFAULT_MODEL).model
    image = test_photo(300, 200)
    plain = copy.deepcopy(model).float().eval()
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    upscaler = Upscaler(model)
    upscaler.upscale(image[:32, :32])
    plain_times, fast_times = [], []
    with torch.inference_mode():
        plain(x[..., :32, :32])
        for _ in range(rounds):
            start = time.perf_counter()
            reference = plain(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            plain_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            fast = upscaler.upscale(image)
            fast_times.append(time.perf_counter() - start)
    plain_seconds, fast_seconds = min(plain_times), min(fast_times)
    reference = from_float(reference)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, input 300x200 -> 1200x800, best of {rounds}"
    )
    print(f"plain fp32 forward:        {plain_seconds:7.2f} s  ({1 / plain_seconds:.3f} frames/s)")
    print(
        f"engine ({str(upscaler.dtype).removeprefix('torch.')}, tile {upscaler.auto_tile()}):"
        f" {fast_seconds:7.2f} s  ({1 / fast_seconds:.3f} frames/s)"
    )
    print(f"speed-up: {plain_seconds / fast_seconds:.2f}x (target >= 5x)")
    print(f"PSNR engine vs fp32: {psnr(fast, reference):.2f} dB (target >= 45 dB)")
    print(f"frames/s vs paper V100 0.7632: {1 / fast_seconds / 0.7632:.2f}x")
    compiled = Upscaler(load_generator(DEFAULT_MODEL).model, compile_model=True)
    start = time.perf_counter()
    compiled.upscale(image)
    compile_seconds = time.perf_counter() - start
    compiled_times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fastest = compiled.upscale(image)
        compiled_times.append(time.perf_counter() - start)
    best = min(compiled_times)
    print(
        f"engine --compile:          {best:7.2f} s  ({1 / best:.3f} frames/s), first call {compile_seconds:.0f} s"
    )
    print(
        f"speed-up with --compile: {plain_seconds / best:.2f}x (target >= 5x),"
        f" PSNR vs fp32 {psnr(fastest, reference):.2f} dB, frames/s vs V100 {1 / best / 0.7632:.2f}x"
    )


def memory_child() -> None:
    image = test_photo(2000, 1500)
    upscaler = Upscaler(load_generator(DEFAULT_MODEL).model)
    start = time.perf_counter()
    out = upscaler.upscale(image)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"2000x1500 -> {out.shape[1]}x{out.shape[0]}: {seconds:.1f} s, tile {upscaler.auto_tile()},"
        f" peak RSS {peak_mb:.0f} MB (target <= 3072 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--memory", action="store_true", help="measure peak RSS for a 2000x1500 input"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child()
    elif args.memory:
        # A fresh process, so the peak is this job's alone.
        subprocess.run([sys.executable, __file__, "--child"], check=True)
    else:
        speed(args.rounds)


if __name__ == "__main__":
    main()
