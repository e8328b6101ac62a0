"""Seconds per image of every metric of `rwsr evaluate` on a 1080x800 RGB pair, with references
measured in the same run.

The pair: City100 iPhone X 021 (HR, and its real LR as the "SR" image) resized to 1080x800 by
MATLAB bicubic, so the content is a real photo and not noise. Measured (median of --repeats):
- PSNR and SSIM on RGB and on Y (rwsr), and scikit-image's SSIM on the same RGB arrays
  (target: rwsr SSIM at least as fast as scikit-image, same values to 1e-10);
- LPIPS AlexNet and VGG16 (a random backbone: the weights do not change the time);
- NIQE on Y, and the straightforward NIQE of the MATLAB release and BasicSR (one block and
  one AGGD fit at a time, each fit an argmin over the 9801-point shape grid), with the same
  maths otherwise (target: not slower on the CPU, where the filters and the resize dominate;
  the batched blocks are for GPUs, where one call per block would dominate; same value).
The whole `rwsr evaluate` cost of one image is about the sum of one row of each metric.

    nice -n 10 .venv/bin/python benchmarks/bench_metrics.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

from rwsr.data.imresize import imresize
from rwsr.imageio import read_image
from rwsr.metrics import niqe as niqe_module
from rwsr.metrics.lpips import LPIPS
from rwsr.metrics.niqe import niqe
from rwsr.metrics.psnr_ssim import psnr, ssim

CITY100 = (
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "city100_iphonex_train"
)
SIZE = (800, 1080)  # height, width


def timed(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    function()  # warm-up: first calls pay for allocations and library setup
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _aggd_grid_search(vec: np.ndarray) -> tuple[int, float, float]:
    """estimateaggdparam.m: moments, then argmin over the whole 0.2:0.001:10 grid; returns
    the grid position of alpha, beta_left, beta_right."""
    left = np.sqrt(np.mean(vec[vec < 0] ** 2))
    right = np.sqrt(np.mean(vec[vec > 0] ** 2))
    ratio = left / right
    rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
    rhatnorm = rhat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    position = int(np.argmin((niqe_module.RATIO - rhatnorm) ** 2))
    factor = niqe_module.BETA_FACTOR[position]
    return position, left * factor, right * factor


def niqe_straightforward(image: np.ndarray) -> float:
    """NIQE as the MATLAB release and BasicSR compute it: the same maths, one block and one
    AGGD fit at a time, each fit a search over the whole shape grid."""
    luma = niqe_module.luma(image)
    rows, cols = luma.shape[0] // 96, luma.shape[1] // 96
    images = torch.from_numpy(np.ascontiguousarray(luma[: rows * 96, : cols * 96]))[None]
    per_scale = []
    for size in (96, 48):
        normalised = niqe_module.mscn(images)[0].numpy()
        features = []
        for r in range(0, normalised.shape[0], size):
            for c in range(0, normalised.shape[1], size):
                block = normalised[r : r + size, c : c + size]
                position, left, right = _aggd_grid_search(block.ravel())
                feature = [niqe_module.ALPHAS[position], (left + right) / 2]
                for shift in niqe_module.SHIFTS:
                    product = block * np.roll(block, shift, axis=(0, 1))
                    position, left, right = _aggd_grid_search(product.ravel())
                    mean = (right - left) * niqe_module.MEAN_FACTOR[position]
                    feature += [niqe_module.ALPHAS[position], mean, left, right]
                features.append(feature)
        per_scale.append(np.array(features))
        images = imresize(images, 0.5)
    return niqe_module.niqe_distance(np.hstack(per_scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hr = imresize(read_image(CITY100 / "021H.PNG"), size=SIZE)
    sr = imresize(read_image(CITY100 / "021L.PNG"), size=SIZE)
    print(
        f"pair: {SIZE[1]}x{SIZE[0]} RGB uint8; {args.threads} torch thread(s); median of {args.repeats}"
    )

    rows: list[tuple[str, float, str]] = []

    def measure(name: str, function: Callable[[], object]) -> tuple[float, object]:
        seconds, value = timed(function, args.repeats)
        rows.append((name, seconds, f"{float(value):.6f}"))  # type: ignore[arg-type]
        return seconds, value

    measure("PSNR (RGB)", lambda: psnr(sr, hr, crop_border=4))
    measure("PSNR (Y)", lambda: psnr(sr, hr, crop_border=4, channels="y"))
    ours_ssim, ours_value = measure("SSIM (RGB)", lambda: ssim(sr, hr, crop_border=4))
    measure("SSIM (Y)", lambda: ssim(sr, hr, crop_border=4, channels="y"))
    s, h = sr[4:-4, 4:-4].astype(np.float64), hr[4:-4, 4:-4].astype(np.float64)
    skimage_ssim, skimage_value = measure(
        "  scikit-image SSIM (RGB), reference",
        lambda: structural_similarity(
            s,
            h,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        ),
    )
    for net in ("alex", "vgg"):
        metric = LPIPS(net=net, backbone="random")
        measure(
            f"LPIPS ({net}, random backbone)", lambda metric=metric: metric(sr, hr, crop_border=4)
        )
    ours_niqe, niqe_value = measure("NIQE (Y)", lambda: niqe(sr, crop_border=4))
    loop_niqe, loop_value = measure(
        "  NIQE straightforward, reference", lambda: niqe_straightforward(sr[4:-4, 4:-4])
    )

    width = max(len(name) for name, _, _ in rows)
    print(f"{'metric':<{width}}  seconds/image  value")
    for name, seconds, value in rows:
        print(f"{name:<{width}}  {seconds:13.4f}  {value}")
    print()
    same_ssim = abs(float(ours_value) - float(skimage_value)) < 1e-10  # type: ignore[arg-type]
    same_niqe = abs(float(niqe_value) - float(loop_value)) < 1e-9  # type: ignore[arg-type]
    print(
        f"SSIM: scikit-image / rwsr time = {skimage_ssim / ours_ssim:.2f}x (target >= 1); same value: {same_ssim}"
    )
    print(
        f"NIQE: straightforward / rwsr time = {loop_niqe / ours_niqe:.2f}x (target >= 0.9: batching the"
        f" blocks is for GPUs, on a CPU filtering dominates); same value: {same_niqe}"
    )


if __name__ == "__main__":
    main()
