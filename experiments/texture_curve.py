"""The texture dial's perception-distortion curve: one RWSR-EDL model at --texture T for
several T on the held-out CameraSR pairs, beside the LR photo.

    python experiments/texture_curve.py MODEL -o results/camerasr_u4/texture

MODEL is a zoo name or a weights file with the exclusionary head. Scores as training's
validation and the README tables: RGB, 0-255, border crop 4, mean over the pairs; LPIPS
AlexNet v0.1 (ImageNet weights from ../shared). Writes results.md, results.json and curve.png
(PSNR against LPIPS, one point per T).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import provenance  # experiments/provenance.py, beside this script
import torch
from reproduce import ALEXNET, TABLES

from rwsr.models.edl import set_texture
from rwsr.models.zoo import load_generator
from rwsr.train.config import ValidationConfig
from rwsr.train.validation import Validator

TEXTURES = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="zoo name or weights file of an RWSR-EDL model")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--table", default="camerasr-u4", choices=sorted(TABLES))
    args = parser.parse_args()
    table = TABLES[args.table]
    validator = Validator(
        ValidationConfig(
            layout=table.dataset,
            root=table.root,
            split=table.split,
            crop_border=table.crop_border,
            lpips_backbone=str(ALEXNET),
        ),
        device=torch.device("cpu"),
    )
    model = load_generator(args.model, progress=False).model
    rows = []
    for texture in TEXTURES:
        set_texture(model, texture, name=args.model)
        rows.append({"texture": texture, **validator(model).scores})
        print(rows[-1], flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# The texture dial of {Path(args.model).name}",
        "",
        (
            f"{table.dataset} pairs ({table.split}), RGB, border crop {table.crop_border}, mean"
            " over the pairs; LPIPS AlexNet v0.1 (ImageNet). T = 1 is the trained output, T = 0"
            " the fidelity branch alone (rwsr.models.edl)."
        ),
        "",
        "| --texture | PSNR (RGB) ↑ | SSIM (RGB) ↑ | LPIPS ↓ |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['texture']:g} | {r['psnr']:.3f} | {r['ssim']:.4f} | {r['lpips']:.4f} |"
            for r in rows
        ),
        "",
        f"Commit {provenance.commit()}.",
    ]
    (args.output / "results.md").write_text("\n".join(lines) + "\n")
    (args.output / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.6))
    axes.plot([r["lpips"] for r in rows], [r["psnr"] for r in rows], "o-")
    for r in rows:
        axes.annotate(
            f"T={r['texture']:g}",
            (r["lpips"], r["psnr"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    axes.set_xlabel("LPIPS (AlexNet) ↓")
    axes.set_ylabel("PSNR (RGB, dB) ↑")
    axes.set_title(f"--texture on {table.dataset} {table.split}")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.output / "curve.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
