"""What a researcher watching a run looks at, updated after every validation: the crops of
the first validation.images pairs in run_dir/validation/iter_NNNNNNN/ (NN_NAME_lr.png,
_sr.png, _hr.png), curves.png, and run_dir/progress.html, which shows the curves, every
validation's scores and, for each validation whose crops are kept, the crops side by side
with its scores.

The page is made from log.jsonl, which a resumed run cuts back to its checkpoint, so each
validation appears once; the image folders of later iterations (the run before the resume
went further) are removed, as are all but the newest validation.keep_images.
"""

from __future__ import annotations

import re
import shutil
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rwsr.atomic import write_text_atomic
from rwsr.eval.page import STYLE
from rwsr.eval.tables import format_value
from rwsr.imageio import write_image
from rwsr.train.config import ValidationConfig
from rwsr.train.logs import plot_curves, read_log
from rwsr.train.validation import Crops

IMAGES_DIR = "validation"
PAGE = "progress.html"
KINDS = {"lr": "LR", "sr": "SR", "hr": "HR"}  # file name suffix -> caption, in page order
METRICS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS"}
_FOLDER = re.compile(r"iter_(\d+)")
_CROPS_NOTE = (
    "Crops: the same centred square of the first validation pairs each time; LR enlarged by"
    " nearest neighbour to the output's size, SR of the validated model (the EMA where there"
    " is one), HR."
)
_CROPS_STYLE = """
.row { display: flex; gap: 8px; flex-wrap: wrap; }
figure { margin: 0 0 8px 0; }
figure img { image-rendering: pixelated; margin: 0; }
figcaption { font-size: small; text-align: center; }
"""


def images_folder(run_dir: Path, iteration: int) -> Path:
    return run_dir / IMAGES_DIR / f"iter_{iteration:07d}"


def save_crops(folder: Path, crops: list[Crops]) -> None:
    """Each pair's crops as NN_NAME_{lr,sr,hr}.png (atomic; a resumed run rewrites them)."""
    for index, crop in enumerate(crops):
        # Characters a file name or an URL could trip on become "_".
        stem = f"{index:02d}_" + re.sub(r"[^A-Za-z0-9._-]", "_", crop.name)
        for kind in KINDS:
            write_image(folder / f"{stem}_{kind}.png", getattr(crop, kind), overwrite=True)


def image_folders(run_dir: Path) -> dict[int, Path]:
    """Iteration -> its folder of crops, in iteration order."""
    root = run_dir / IMAGES_DIR
    folders = {}
    for path in root.iterdir() if root.is_dir() else ():
        match = _FOLDER.fullmatch(path.name)
        if match and path.is_dir():
            folders[int(match[1])] = path
    return dict(sorted(folders.items()))


def prune_image_folders(run_dir: Path, *, iteration: int, keep: int | None) -> None:
    """Remove the folders of iterations after `iteration` (the run resumed from an earlier
    checkpoint and redoes them) and all but the newest `keep` of the others (None: none)."""
    folders = image_folders(run_dir)
    stale = [number for number in folders if number > iteration]
    done = [number for number in folders if number <= iteration]
    old = done[:-keep] if keep is not None else []
    for number in stale + old:
        shutil.rmtree(folders[number])


def record_validation(
    run_dir: Path, *, iteration: int, crops: list[Crops], config: ValidationConfig
) -> None:
    """After the validation at `iteration` (its scores already in log.jsonl): its crops,
    the image folders pruned, curves.png and progress.html rewritten."""
    if crops:
        save_crops(images_folder(run_dir, iteration), crops)
    prune_image_folders(run_dir, iteration=iteration, keep=config.keep_images)
    plot_curves(run_dir / "log.jsonl", run_dir / "curves.png")
    page = progress_page(run_dir, best_metric=config.best_metric)
    write_text_atomic(run_dir / PAGE, page, overwrite=True)


def _scores_line(record: dict[str, Any], columns: list[str]) -> str:
    return ", ".join(f"{METRICS[key]} {format_value(key, record.get(key))}" for key in columns)


def progress_page(run_dir: Path, *, best_metric: str) -> str:
    """The page: curves.png, a table of every validation (newest first, the best by
    `best_metric` in bold), then each validation with crops, newest first."""
    records = [r for r in read_log(run_dir / "log.jsonl") if r["kind"] == "val"]
    folders = image_folders(run_dir)
    columns = [key for key in METRICS if any(key in record for record in records)]
    scored = [r for r in records if r.get(best_metric) is not None]
    pick = max if best_metric == "psnr" else min  # the first of equals, as best.pt keeps
    best = pick(scored, key=lambda r: r[best_metric])["iteration"] if scored else None
    records.reverse()  # newest first
    last = records[0]["iteration"] if records else 0
    title = f"{run_dir.name}: training progress"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{STYLE}{_CROPS_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Rewritten after every validation; the last was at iteration {last}. {_CROPS_NOTE}</p>",
        f"<img alt='training curves' src='curves.png?iteration={last}'>",
        "<h2>Validation scores</h2><table><tr><th>Iteration</th>",
        "".join(f"<th>{METRICS[key]}</th>" for key in columns) + "</tr>",
    ]
    for record in records:
        number = record["iteration"]
        label = f"<a href='#iter_{number}'>{number}</a>" if number in folders else str(number)
        css = " class='best'" if number == best else ""
        cells = "".join(f"<td{css}>{format_value(k, record.get(k))}</td>" for k in columns)
        parts.append(f"<tr><td{css}>{label}</td>{cells}</tr>")
    parts.append("</table>")
    for record in records:
        number = record["iteration"]
        if number not in folders:
            continue
        parts.append(f"<h2 id='iter_{number}'>Iteration {number}</h2>")
        parts.append(f"<p>{_scores_line(record, columns)}</p>")
        for sr in sorted(folders[number].glob("*_sr.png")):
            stem = sr.name.removesuffix("_sr.png")
            name = escape(stem.split("_", 1)[-1])  # without the NN_ of the file order
            parts.append("<div class='row'>")
            for kind, caption in KINDS.items():
                path = folders[number] / f"{stem}_{kind}.png"
                if path.is_file():
                    source = quote(path.relative_to(run_dir).as_posix())
                    parts.append(
                        f"<figure><img alt='{name} {caption}' src='{source}'>"
                        f"<figcaption>{name} {caption}</figcaption></figure>"
                    )
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
