"""Which x4 model serves a photo user best: candidates on real phone photos, side by side.

    python experiments/default_model.py -o results/default_model

Photos: the `make run` sample (a 240x160 crop of City100 iPhone X photo 045L) and 240x160
crops of the LR photos of City100 pairs 091, 095 and 099 (iPhone X, real lens blur and
sensor noise; no ground truth at x4, so the measures are no-reference):
- NIQE (lower is better): rwsr's NIQE (Y channel, BT.601, 96x96 blocks, MATLAB pristine model).
- edge energy: mean Sobel gradient magnitude of the output's Y channel, as a ratio to bicubic
  upscaling of the same photo (1.0 = no sharper than bicubic; higher = crisper edges, which
  noise amplification would also raise, so read it beside NIQE and the crops).
Each model runs through `rwsr upscale`'s engine in fp32 (one tile per photo). The table
goes to OUT/results.md (+ .json), the crops to OUT/crops.png (bicubic | candidates), the
outputs to OUT/images/ (reused by a rerun).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from rwsr.atomic import write_text_atomic
from rwsr.imageio import read_image, write_image
from rwsr.metrics.color import rgb_to_y
from rwsr.metrics.niqe import niqe
from rwsr.models.zoo import load_generator
from rwsr.upscale.engine import Upscaler

REPO = Path(__file__).resolve().parents[1]
CITY100 = REPO.parent / "shared" / "datasets" / "city100_iphonex_train"
SAMPLE = REPO / "src" / "rwsr" / "assets" / "sample.png"
# (label, file, top, left): 240x160 crops with texture, edges and flat sky or wall.
PHOTOS = (
    ("sample (045L)", SAMPLE, 0, 0),
    ("091L", CITY100 / "091L.PNG", 300, 600),
    ("095L", CITY100 / "095L.PNG", 400, 500),
    ("099L", CITY100 / "099L.PNG", 250, 700),
)
CROP = (160, 240)  # height, width


def photos() -> list[tuple[str, np.ndarray]]:
    found = []
    for label, path, top, left in PHOTOS:
        if not path.exists():
            sys.exit(f"{path}: not found (the City100 photos are in ../shared/datasets)")
        image = read_image(path)
        found.append(
            (label, np.ascontiguousarray(image[top : top + CROP[0], left : left + CROP[1]]))
        )
    return found


def edge_energy(image: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the Y channel (0-255 scale)."""
    y = rgb_to_y(image.astype(np.float64))
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3)
    return float(np.mean(np.hypot(gx, gy)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="zoo name or file (repeat); default: impressionism-df2k-x4 and realesrgan-x4plus",
    )
    args = parser.parse_args()
    models = args.model or ["impressionism-df2k-x4", "realesrgan-x4plus"]
    images = photos()
    outputs: dict[str, list[np.ndarray]] = {
        "bicubic": [
            cv2.resize(img, (CROP[1] * 4, CROP[0] * 4), interpolation=cv2.INTER_CUBIC)
            for _, img in images
        ]
    }
    saved = args.output / "images"  # the outputs, reused by a rerun (not committed)
    for name in models:
        files = [saved / f"{Path(name).stem}_{label.split()[0]}.png" for label, _ in images]
        if all(f.exists() for f in files):
            outputs[name] = [read_image(f) for f in files]
            continue
        upscaler = Upscaler(load_generator(name).model, precision="fp32", tile=256)
        outputs[name] = [upscaler.upscale(img) for _, img in images]
        for f, result in zip(files, outputs[name]):
            write_image(f, result, overwrite=True)
        print(f"{name}: done", flush=True)
    rows = {}
    for method, results in outputs.items():
        niqes = [float(niqe(r)) for r in results]  # uint8 RGB
        energy = [edge_energy(r) / edge_energy(b) for r, b in zip(results, outputs["bicubic"])]
        rows[method] = {"niqe": niqes, "edge_energy_vs_bicubic": energy}
    args.output.mkdir(parents=True, exist_ok=True)
    labels = [label for label, _ in images]
    lines = [
        "# Default-model candidates on real phone photos (x4, no ground truth)",
        "",
        "| method | " + " | ".join(f"NIQE {label}" for label in labels) + " | NIQE mean ↓"
        " | edge energy vs bicubic (mean) ↑ |",
        "|---|" + "---:|" * (len(labels) + 2),
    ]
    for method, row in rows.items():
        lines.append(
            f"| {Path(method).stem} | "
            + " | ".join(f"{v:.2f}" for v in row["niqe"])
            + f" | {np.mean(row['niqe']):.2f} | {np.mean(row['edge_energy_vs_bicubic']):.2f}"
            f" ({min(row['edge_energy_vs_bicubic']):.2f}-{max(row['edge_energy_vs_bicubic']):.2f}) |"
        )
    lines += [
        "",
        (
            "Photos: 240x160 crops (the `make run` sample = City100 045L; City100 LR 091, 095, 099),"
            " upscaled to 960x640. NIQE on Y (BT.601, 16-235), 96x96 blocks, MATLAB pristine"
            " model, no border crop; edge energy = mean Sobel gradient magnitude of Y, as a ratio"
            " to bicubic (OpenCV INTER_CUBIC). Models in fp32 through rwsr's engine."
        ),
    ]
    write_text_atomic(args.output / "results.md", "\n".join(lines) + "\n", overwrite=True)
    write_text_atomic(
        args.output / "results.json",
        json.dumps({"photos": labels, "rows": rows}, indent=2) + "\n",
        overwrite=True,
    )
    # Crops: a 240x240 window of two photos' outputs, methods side by side.
    tiles = []
    for index, (top, left) in ((0, (200, 360)), (1, (300, 300))):
        tiles.append(
            np.hstack([outputs[m][index][top : top + 240, left : left + 240] for m in outputs])
        )
    write_image(args.output / "crops.png", np.vstack(tiles), overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
