"""Throughput of rwsr's MATLAB bicubic against a straightforward implementation, same run.

Two references, measured in the same run on the same 2040x1356 RGB image (DIV2K size) shrunk
by 4:
- "per line and channel": the loop of the Python port of MATLAB's imresize that SR projects
  commonly use (one torch matrix-vector product per output line and channel, float32);
- "per line": the same loop vectorised over channels and run by numpy in float64 with MATLAB's
  per-pass uint8 rounding (bit-identical to rwsr), a stronger baseline.
Target: rwsr >= 10x faster than the straightforward implementation. Both get the same torch
threads (default 1; `--threads 2` is what torch uses on a 2-core machine). uint8 does more
work than the first reference: MATLAB's rounding after each pass, checked against float64.

    nice -n 10 .venv/bin/python benchmarks/bench_imresize.py [--repeats 5] [--threads 1]
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
    parser.add_argument("--threads", type=int, default=1, help="torch threads (reference: 1)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(1356, 2040, 3), dtype=np.uint8)
    mpix = image.shape[0] * image.shape[1] / 1e6
    torch.set_num_threads(args.threads)

    ref = best_seconds(lambda: reference_imresize(image, 0.25), args.repeats)
    naive = best_seconds(lambda: per_channel_reference(image, 0.25), max(1, args.repeats // 2))
    as_float = image.astype(np.float32) / 255
    chw = torch.from_numpy(image).permute(2, 0, 1).contiguous()  # as a DataLoader yields it
    chw_float = chw.float() / 255
    cases = {
        "numpy uint8": lambda: imresize(image, 0.25),
        "numpy float32": lambda: imresize(as_float, 0.25),
        "torch uint8 CHW": lambda: imresize(chw, 0.25),
        "torch float32 CHW": lambda: imresize(chw_float, 0.25),
    }
    expected = reference_imresize(image, 0.25)
    assert np.array_equal(imresize(image, 0.25), expected), "numpy result differs from reference"
    naive_out = per_channel_reference(image, 0.25).astype(int)
    assert np.abs(naive_out - expected).max() <= 1, "per-channel reference differs by > 1 level"
    print(
        f"input {image.shape[1]}x{image.shape[0]} RGB, shrink x1/4, best of {args.repeats}, "
        f"{args.threads} torch thread(s), reference single-threaded"
    )
    print(f"{'':28s} {'time':>8s} {'MPix/s':>8s}  vs per line and channel / vs per line")
    for name, seconds in (("ref: per line and channel", naive), ("ref: per line (numpy)", ref)):
        print(f"{name:28s} {seconds * 1e3:7.1f}ms {mpix / seconds:8.1f}")
    for name, run in cases.items():
        seconds = best_seconds(run, args.repeats)
        print(
            f"{name:28s} {seconds * 1e3:7.1f}ms {mpix / seconds:8.1f}  "
            f"{naive / seconds:6.1f}x / {ref / seconds:4.1f}x"
        )


if __name__ == "__main__":
    main()
