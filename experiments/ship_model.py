"""Turn a training checkpoint (or a generator file) into a bundled zoo file: float16 rwsr
safetensors with where it came from in its metadata, checked against the given weights on a
real photo.

    python experiments/ship_model.py runs/camerasr_x1_cpu/best.pt \
        -o src/rwsr/weights/NAME.safetensors --photo PHOTO.png
    python experiments/ship_model.py runs/camerasr_x1_u4_gan_gpu.fp16.safetensors \
        -o src/rwsr/weights/rwsr-edl-camerasr-unshuffle4-x1.safetensors --photo PHOTO.png

Prints the SHA-256 to pin in rwsr.models.zoo and the float16-vs-float32 PSNR on the photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import provenance  # experiments/provenance.py, beside this script
import torch

from rwsr.imageio import read_image
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.zoo import sha256_of
from rwsr.train.state import load_checkpoint
from rwsr.upscale.engine import Upscaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--photo", type=Path, required=True, help="a real photo to compare on")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    loaded = load_model(args.checkpoint)
    if args.checkpoint.suffix == ".safetensors":  # a generator file: its own account of itself
        source = loaded.metadata.get("source", str(args.checkpoint))
        state = {"perceptual_net": loaded.metadata.get("perceptual_net")}
    else:
        state = load_checkpoint(args.checkpoint)
        source = f"{args.checkpoint} (rwsr train, iteration {state['iteration']})"
    commit = provenance.commit()
    best = state.get("best") or {}
    save_model(
        loaded.model,
        args.output,
        dtype=torch.float16,
        overwrite=args.overwrite,
        metadata={
            "source": source,
            "shipped_at_commit": commit,
            "validation": ", ".join(f"{k} {v:.4f}" for k, v in best.items() if k != "iteration"),
        }
        | ({"perceptual_net": str(net)} if (net := state.get("perceptual_net")) else {}),
    )
    photo = read_image(args.photo)
    exact = Upscaler(loaded.model, device="cpu", precision="fp32").upscale(photo)
    shipped = load_model(args.output).model.float()
    half = Upscaler(shipped, device="cpu", precision="fp32").upscale(photo)
    print(f"{args.output}: {args.output.stat().st_size} bytes, sha256 {sha256_of(args.output)}")
    print(f"float16 weights vs float32 on {args.photo}: PSNR {psnr(half, exact):.2f} dB")
    print(f"max abs difference: {np.abs(half.astype(int) - exact.astype(int)).max()} grey levels")


if __name__ == "__main__":
    main()
