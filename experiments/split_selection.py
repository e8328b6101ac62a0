"""A selection-free score for a trained run: choose the checkpoint on one half of the held-out
pairs and report it on the other half, both ways round.

    python experiments/split_selection.py runs/camerasr_x1_cpu_ema -o results/camerasr_cpu/split

`reproduce.py` selects each row's checkpoint on the same pairs that score it (the paper's test
pairs are not here), so a row's margin over the LR photo is optimistic by that choice. Here
every saved checkpoint of the run and the LR photo are scored per image by one `rwsr
evaluate` call on the table's pairs (RGB, crop 4, LPIPS AlexNet); the checkpoint with the best
mean PSNR on half A is reported on half B, and the other way round. Each checkpoint's EMA
weights are used where the run kept an EMA, as training validates them. The candidates are
the checkpoints the run kept (`keep_checkpoints`), fewer than training's validation chose
from. What this cannot remove: the recipe itself was chosen after seeing all ten pairs.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import provenance  # experiments/provenance.py, beside this script
from reproduce import METRICS, TABLES, choose_and_score, evaluate, half_means, write_table

from rwsr.eval.methods import IdentityMethod

IDENTITY = IdentityMethod.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a training run folder (with checkpoints/)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--table", default="camerasr-cpu", choices=sorted(TABLES))
    args = parser.parse_args()
    table = TABLES[args.table]
    checkpoints = sorted((args.run / "checkpoints").glob("iter_*.pt"))
    if not checkpoints:
        parser.error(f"{args.run / 'checkpoints'}: no iter_*.pt checkpoints")
    out = args.output.resolve()
    evaluate(
        table, [f"--model={path}" for path in checkpoints], out / "eval", metrics="psnr,ssim,lpips"
    )
    with (out / "eval" / "scores.csv").open() as file:
        rows = [r for r in csv.DictReader(file) if r["status"] in ("ok", "warning")]
    images = sorted({r["image"] for r in rows})
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != IDENTITY]
    for method in [IDENTITY, *methods]:
        if missing := set(images) - {r["image"] for r in rows if r["method"] == method}:
            sys.exit(f"{method}: not evaluated on {', '.join(sorted(missing))}; see {out / 'eval'}")
    if len(images) < 2:
        sys.exit(f"{table.split}: {len(images)} evaluated pair(s); two halves need 2 or more")
    halves = {"A": images[: len(images) // 2], "B": images[len(images) // 2 :]}
    lines = [
        f"# Checkpoint chosen on one half, scored on the other: {args.run.name}",
        "",
        (
            f"{table.dataset} pairs {images[0]}-{images[-1]} (split {table.split}); half A ="
            f" {', '.join(halves['A'])}, half B = {', '.join(halves['B'])}. Selection: best mean"
            " PSNR (RGB) on the other half, as training selects, among the checkpoints the run"
            f" kept ({', '.join(methods)}). Conventions: RGB, border crop"
            f" {table.crop_border}, 8-bit, LPIPS AlexNet (ImageNet weights)."
        ),
        "",
        (
            "| scored on | chosen on | checkpoint | PSNR (RGB) | SSIM (RGB) | LPIPS | LR photo PSNR"
            " / SSIM / LPIPS | margin PSNR / SSIM / LPIPS |"
        ),
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    results = []
    for picked in choose_and_score(rows, methods, halves):
        scored = str(picked["scored_on"])
        chosen_on = "A" if scored == "B" else "B"
        pick, model = picked["pick"], picked["scores"]
        identity = half_means(rows, IDENTITY, halves[scored])
        margin = {m: model[m] - identity[m] for m in METRICS}
        lines.append(
            f"| {scored} | {chosen_on} | {pick} | {model['psnr_rgb']:.3f} |"
            f" {model['ssim_rgb']:.4f} | {model['lpips']:.4f} | {identity['psnr_rgb']:.3f} /"
            f" {identity['ssim_rgb']:.4f} / {identity['lpips']:.4f} | {margin['psnr_rgb']:+.3f}"
            f" / {margin['ssim_rgb']:+.4f} / {margin['lpips']:+.4f} |"
        )
        results.append(
            {
                "scored_on": halves[scored],
                "chosen_on": halves[chosen_on],
                "checkpoint": pick,
                "model": model,
                "identity": identity,
            }
        )
    lines += ["", f"Commit {provenance.commit()}."]
    write_table(out, lines, results)


if __name__ == "__main__":
    main()
