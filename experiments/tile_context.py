"""How much picture a tile needs around it: tiled against untiled output, per context size.

    python experiments/tile_context.py                       # x4plus, 160x160 of City100 021H
    python experiments/tile_context.py --contexts 0 32 --photo src/rwsr/assets/sample.png

For each context C the engine upscales the photo in `--tile` px tiles (default overlap:
32 px, at most a quarter of the tile), each computed from a window with C px of the picture
on every side; C = 0 is the engine before tile contexts existed, the overlap alone (to the
bit for models without pixel-unshuffle; those now cut windows on the untiled block grid). It
prints the PSNR of that output against the same photo in one tile (RGB, 8-bit, whole
image, no border crop) and the seconds each run took. fp32 by default: bf16's own rounding
differs between tiles and untiled runs and would hide what context does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from rwsr.imageio import read_image
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.checkpoint import load_model
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.upscale.engine import Upscaler

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests" / "fixtures" / "city100" / "021H.PNG"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="zoo name or weights file")
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--crop", type=int, default=160, help="top-left HxW square, 0: whole")
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--contexts", type=int, nargs="+", default=[0, 8, 16, 24, 32])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = Path(args.model)
    model = (load_model(path) if path.is_file() else load_generator(args.model)).model
    image = read_image(args.photo)
    if args.crop:
        image = np.ascontiguousarray(image[: args.crop, : args.crop])
    height, width = image.shape[:2]
    print(f"{args.model} on {args.photo.name} {width}x{height}, tile {args.tile}, {args.precision}")
    start = time.perf_counter()
    whole = Upscaler(model, precision=args.precision, tile=max(height, width)).upscale(image)
    print(f"untiled: {time.perf_counter() - start:.0f} s", flush=True)
    for context in args.contexts:
        upscaler = Upscaler(model, precision=args.precision, tile=args.tile, tile_context=context)
        start = time.perf_counter()
        tiled = upscaler.upscale(image)
        seconds = time.perf_counter() - start
        print(
            f"context {context:3d} px: {psnr(tiled, whole):6.2f} dB ({seconds:.0f} s)", flush=True
        )


if __name__ == "__main__":
    main()
