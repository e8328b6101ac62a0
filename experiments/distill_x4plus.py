"""Distil realesrgan-x4plus into a compact student on real photos, and score it on others.

    python experiments/distill_x4plus.py -o results/distill

Training photos (../shared): City100 iPhone X LR 021-090 and the 100 BSD100 photos, through
`rwsr distill` (its run folder is OUT/run; a rerun resumes it). The student starts from
realesr-general-x4v3 (Real-ESRGAN's compact model: the same network, so the two hours of a
CPU go into moving it towards the teacher rather than into learning super-resolution from
nothing); `--student compact-x4` starts from random weights instead.

Test: the central 240x160 crop of each City100 LR photo 091-100 (held out), upscaled x4 by
the teacher, the student, realesr-general-x4v3 and bicubic. No ground truth exists at x4, so
the teacher's output is the student's reference: PSNR (RGB, 8-bit, no border crop) and
LPIPS (AlexNet v0.1, ImageNet weights from ../shared) against it; NIQE (Y, BT.601, MATLAB
pristine model) of each output; CPU seconds per input megapixel of each model through rwsr's
engine in fp32 (one pass over the crops, after one warm-up crop). Writes OUT/results.md
(+ .json) and OUT/crops.png (bicubic | teacher | student | realesr-general-x4v3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import provenance  # experiments/provenance.py, beside this script
from reproduce import ALEXNET, SHARED

from rwsr.atomic import write_text_atomic
from rwsr.errors import WeightsUnavailableError
from rwsr.imageio import read_image, write_image
from rwsr.metrics.lpips import LPIPS
from rwsr.metrics.niqe import niqe
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.zoo import install, load_generator
from rwsr.train.distill import distill
from rwsr.train.distill_config import distill_config
from rwsr.upscale.engine import Upscaler

CITY100 = SHARED / "datasets" / "city100_iphonex_train"
BSD100 = SHARED / "datasets" / "bsd100_hr"
VGG16 = SHARED / "models" / "imagenet" / "vgg16-397923af.pth"
COMPACT = "realesr-general-x4v3"
COMPACT_NCNN = SHARED / "models" / "ncnn" / "realesr_general_x4v3" / "realesr-general-x4v3"
TEACHER = "realesrgan-x4plus"
TEST_CROP = (160, 240)  # height, width: as experiments/default_model.py


def ensure_compact() -> None:
    """realesr-general-x4v3 in the zoo's cache: downloaded, or installed from ../shared's copy
    of its ncnn files (`rwsr models install`, the offline path)."""
    try:
        load_generator(COMPACT, progress=False)
    except WeightsUnavailableError:
        files = [COMPACT_NCNN.with_suffix(".param"), COMPACT_NCNN.with_suffix(".bin")]
        print(f"{COMPACT}: not downloadable here; installing it from {files[0].parent}")
        install(COMPACT, files)


def training_photos(limit: int | None) -> list[Path]:
    photos = [CITY100 / f"{number:03d}L.PNG" for number in range(21, 91)]
    photos += sorted(BSD100.glob("*.png"))
    return photos[:limit]


def test_photos(limit: int) -> list[tuple[str, np.ndarray]]:
    """The central TEST_CROP of City100 LR 091-100 (the first `limit` of them)."""
    found = []
    for number in range(91, 91 + limit):
        image = read_image(CITY100 / f"{number:03d}L.PNG")
        top = (image.shape[0] - TEST_CROP[0]) // 2
        left = (image.shape[1] - TEST_CROP[1]) // 2
        window = image[top : top + TEST_CROP[0], left : left + TEST_CROP[1]]
        found.append((f"{number:03d}L", np.ascontiguousarray(window)))
    return found


def upscale_all(model_name: str, photos: list[tuple[str, np.ndarray]]) -> tuple[list, float]:
    """Each photo upscaled in fp32 through rwsr's engine, and CPU seconds per input MP."""
    upscaler = Upscaler(load_generator(model_name).model, device="cpu", precision="fp32")
    upscaler.upscale(photos[0][1])  # warm-up: first-call allocations and kernel choice
    start = time.perf_counter()
    outputs = [upscaler.upscale(image) for _, image in photos]
    seconds = time.perf_counter() - start
    megapixels = sum(image.shape[0] * image.shape[1] for _, image in photos) / 1e6
    return outputs, seconds / megapixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--student", default=COMPACT, help=f"default: {COMPACT}'s weights")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--crops-per-photo", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4, help="1e-4: a fine-tuning rate")
    parser.add_argument("--perceptual", type=float, default=0.0, help="weight; VGG16 conv5_3")
    parser.add_argument("--train-photos", type=int, default=None, help="the first N (smoke run)")
    parser.add_argument("--test-photos", type=int, default=10, choices=range(1, 11))
    args = parser.parse_args()
    for needed in (CITY100, BSD100, ALEXNET):
        if not needed.exists():
            sys.exit(f"{needed}: not found (../shared holds the photos and the LPIPS weights)")
    ensure_compact()
    config = distill_config(
        teacher=TEACHER,
        photos=tuple(training_photos(args.train_photos)),
        output=args.output / "run",
        student=args.student,
        crop=args.crop,
        crops_per_photo=args.crops_per_photo,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        perceptual=args.perceptual,
        perceptual_net="vgg16",
        vgg_weights=VGG16 if args.perceptual else None,
    )
    started = time.perf_counter()
    done = distill(config, resume=True)  # a rerun continues the run (or starts it)
    distill_minutes = (time.perf_counter() - started) / 60
    print(f"distilled in {distill_minutes:.1f} min: {done.model}", flush=True)

    photos = test_photos(args.test_photos)
    methods = {"teacher": TEACHER, "student": str(done.model), COMPACT: COMPACT}
    outputs: dict[str, list[np.ndarray]] = {}
    speed: dict[str, float] = {}
    for label, name in methods.items():
        outputs[label], speed[label] = upscale_all(name, photos)
        print(f"{label}: {speed[label]:.1f} s/MP", flush=True)
    height, width = TEST_CROP[0] * 4, TEST_CROP[1] * 4
    outputs["bicubic"] = [
        cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC) for _, image in photos
    ]
    lpips = LPIPS(net="alex", backbone=ALEXNET)
    rows = {}
    reference = outputs["teacher"]
    for label in ("teacher", "student", COMPACT, "bicubic"):
        against = label != "teacher"  # the teacher against itself: inf dB, LPIPS 0
        rows[label] = {
            "psnr_vs_teacher": [float(psnr(o, r)) for o, r in zip(outputs[label], reference)]
            if against
            else None,
            "lpips_vs_teacher": [float(lpips(o, r)) for o, r in zip(outputs[label], reference)]
            if against
            else None,
            "niqe": [float(niqe(o)) for o in outputs[label]],
            "seconds_per_megapixel": speed.get(label),
        }

    def mean(values: list[float] | None) -> str:
        return "–" if values is None else f"{np.mean(values):.3f}"

    lines = [
        f"# {TEACHER} distilled into a compact student (x4, CPU)",
        "",
        "| output | PSNR vs teacher (dB) ↑ | LPIPS vs teacher ↓ | NIQE ↓ | CPU s/MP ↓ |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in rows.items():
        seconds = row["seconds_per_megapixel"]
        lines.append(
            f"| {label} | {mean(row['psnr_vs_teacher'])} | {mean(row['lpips_vs_teacher'])}"
            f" | {mean(row['niqe'])} | {'–' if seconds is None else f'{seconds:.1f}'} |"
        )
    notice = done.notice.read_text().strip().splitlines()
    lines += [
        "",
        (
            f"Test: the central {TEST_CROP[1]}x{TEST_CROP[0]} crop of City100 iPhone X LR"
            f" 091-100 ({len(photos)} photos, held out), upscaled to {width}x{height}. The"
            " teacher's output is the reference (no x4 ground truth exists): PSNR on RGB, 8-bit,"
            " no border crop; LPIPS AlexNet v0.1 (ImageNet); NIQE on Y (BT.601), 96x96 blocks,"
            " MATLAB pristine model. CPU s/MP: seconds per input megapixel through rwsr's engine"
            " in fp32, one pass after a warm-up crop, on the machine of the run (a shared host:"
            " ratios mean more than absolute times). Bicubic: OpenCV INTER_CUBIC."
        ),
        "",
        f"Distillation ({distill_minutes:.0f} min on this machine), the student's NOTICE:",
        "",
        *[f"    {line}" for line in notice],
        "",
        f"Made by experiments/distill_x4plus.py at rwsr commit {provenance.commit() or '?'}.",
    ]
    args.output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output / "results.md", "\n".join(lines) + "\n", overwrite=True)
    write_text_atomic(
        args.output / "results.json",
        json.dumps({"photos": [label for label, _ in photos], "rows": rows}, indent=2) + "\n",
        overwrite=True,
    )
    # Side by side: a 240x240 window at the centre of up to three outputs of each method.
    order = ("bicubic", "teacher", "student", COMPACT)
    top, left = (height - 240) // 2, (width - 240) // 2
    strips = [
        np.hstack([outputs[m][i][top : top + 240, left : left + 240] for m in order])
        for i in range(min(3, len(photos)))
    ]
    write_image(args.output / "crops.png", np.vstack(strips), overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
