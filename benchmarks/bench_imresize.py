"""Throughput of rwsr's MATLAB bicubic against a straightforward implementation, same run.

Two references, measured in the same run on the same 2040x1356 RGB image (DIV2K size) shrunk
by 4:
- "per line and channel": the loop of the Python port of MATLAB's imresize that SR projects
  commonly use (one torch matrix-vector product per output line and channel, float32);
- "per line": the same loop vectorised over channels and run by numpy in float64 with MATLAB's
  per-pass uint8 rounding (bit-identical to rwsr), a stronger baseline.
Target: rwsr >= 10x faster than the straightforward implementation. Both sides get the same
torch threads: one, then every core (what torch uses by default). uint8 does more work than
the first reference: MATLAB's rounding after each pass, checked against float64.

    .venv/bin/python benchmarks/bench_imresize.py [--repeats 5] [--threads N ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: idle BLAS threads spin

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from rwsr.data.imresize import contributions, imresize


def reference_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """Float64, one Python iteration per output line, rows then columns, uint8 kept per pass."""
    out = image.astype(np.float64)
    for axis in (0, 1):
        in_length = out.shape[axis]
        out_length = int(np.ceil(in_length * scale))
        weights, indices = contributions(in_length, out_length, scale, True)
        moved = np.moveaxis(out, axis, 0)
        result = np.empty((out_length,) + moved.shape[1:])
        for k in range(out_length):
            result[k] = np.tensordot(weights[k], moved[indices[k]], axes=(0, 0))
        if image.dtype == np.uint8:  # MATLAB keeps the class after every pass
            result = np.floor(np.clip(result, 0, 255) + 0.5)
        out = np.moveaxis(result, 0, axis)
    return out.astype(image.dtype)


def per_channel_reference(image: np.ndarray, scale: float) -> np.ndarray:
    """Float32 torch, one mv per output line and channel, rows then columns, rounded at the end."""
    source = torch.from_numpy(image).permute(2, 0, 1).float()
    channels, height, width = source.shape
    weights_h, indices_h = contributions(height, int(np.ceil(height * scale)), scale, True)
    weights_w, indices_w = contributions(width, int(np.ceil(width * scale)), scale, True)
    rows = torch.empty(channels, len(weights_h), width)
    for i in range(len(weights_h)):
        w, idx = torch.tensor(weights_h[i]).float(), torch.tensor(indices_h[i])
        for c in range(channels):
            rows[c, i] = source[c, idx].T.mv(w)
    out = torch.empty(channels, len(weights_h), len(weights_w))
    for i in range(len(weights_w)):
        w, idx = torch.tensor(weights_w[i]).float(), torch.tensor(indices_w[i])
        for c in range(channels):
            out[c, :, i] = rows[c][:, idx].mv(w)
    return out.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        action="append",
        help="torch threads, for both sides; repeat for several (default: 1 and every core)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(1356, 2040, 3), dtype=np.uint8)
    expected = reference_imresize(image, 0.25)
    assert np.array_equal(imresize(image, 0.25), expected), "numpy result differs from reference"
    naive_out = per_channel_reference(image, 0.25).astype(int)
    assert np.abs(naive_out - expected).max() <= 1, "per-channel reference differs by > 1 level"
    for threads in args.threads or sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        measure(image, args.repeats, threads)


def measure(image: np.ndarray, repeats: int, threads: int) -> None:
    mpix = image.shape[0] * image.shape[1] / 1e6
    ref = best_seconds(lambda: reference_imresize(image, 0.25), repeats)
    naive = best_seconds(lambda: per_channel_reference(image, 0.25), max(1, repeats // 2))
    as_float = image.astype(np.float32) / 255
    chw = torch.from_numpy(image).permute(2, 0, 1).contiguous()  # as a DataLoader yields it
    chw_float = chw.float() / 255
    cases = {
        "numpy uint8": lambda: imresize(image, 0.25),
        "numpy float32": lambda: imresize(as_float, 0.25),
        "torch uint8 CHW": lambda: imresize(chw, 0.25),
        "torch float32 CHW": lambda: imresize(chw_float, 0.25),
    }
    print(
        f"\ninput {image.shape[1]}x{image.shape[0]} RGB, shrink x1/4, best of {repeats}, "
        f"{threads} torch thread(s) on both sides"
    )
    print(f"{'':28s} {'time':>8s} {'MPix/s':>8s}  vs per line and channel / vs per line")
    for name, seconds in (("ref: per line and channel", naive), ("ref: per line (numpy)", ref)):
        print(f"{name:28s} {seconds * 1e3:7.1f}ms {mpix / seconds:8.1f}")
    for name, run in cases.items():
        seconds = best_seconds(run, repeats)
        print(
            f"{name:28s} {seconds * 1e3:7.1f}ms {mpix / seconds:8.1f}  "
            f"{naive / seconds:6.1f}x / {ref / seconds:4.1f}x"
        )


if __name__ == "__main__":
    main()
