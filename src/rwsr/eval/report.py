"""Writing an evaluation to one folder: scores.csv, summary.md, summary.json, figures/*.png
and report.html. Every file is written atomically; existing files are only replaced with
`overwrite`, and that is checked before any metric is computed (`check_outputs`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rwsr.atomic import write_bytes_atomic, write_text_atomic
from rwsr.errors import InputError
from rwsr.eval.figures import crops_figure, gains_figure
from rwsr.eval.runner import HR_ROW, Evaluation
from rwsr.eval.tables import format_value, scores_csv, summary_json, summary_markdown

TABLE_FILES = ("scores.csv", "summary.md", "summary.json", "report.html")
GAINS_FIGURE = "figures/gains.png"


def crops_file(image: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", image)
    return f"figures/crops_{safe}.png"


def check_outputs(
    folder: str | os.PathLike[str], figure_images: list[str], *, overwrite: bool
) -> None:
    """Refuse, before any work, to replace existing outputs without `overwrite`."""
    if overwrite:
        return
    names = [*TABLE_FILES, GAINS_FIGURE, *(crops_file(name) for name in figure_images)]
    existing = [name for name in names if (Path(folder) / name).exists()]
    if existing:
        raise InputError(
            f"{folder}: already holds {', '.join(existing)}; pass --overwrite to replace"
            " them, or choose another --output folder"
        )


def _caption(evaluation: Evaluation, image: str, method: str) -> str:
    if method == HR_ROW:
        niqe = evaluation.reference.get(image, {}).get("niqe")
        return f"NIQE {format_value('niqe', niqe)}" if niqe is not None else ""
    score = next((s for s in evaluation.scores if s.image == image and s.method == method), None)
    if score is None:
        return ""
    channel = evaluation.settings.channels[0]
    parts = []
    for key, unit in ((f"psnr_{channel}", " dB"), ("lpips", ""), ("niqe", "")):
        if key in score.values:
            name = key.split("_")[0].upper()
            parts.append(f"{name} {format_value(key, score.values[key])}{unit}")
    return "\n".join([" / ".join(parts[:2]), *parts[2:]])


def figures(evaluation: Evaluation) -> list[tuple[str, str, bytes]]:
    """(relative file name, caption, PNG bytes) of every figure this evaluation supports."""
    out = []
    gains = _gains(evaluation)
    if gains:
        channel = evaluation.settings.channels[0]
        label = f"PSNR ({'Y' if channel == 'y' else 'RGB'})"
        png = gains_figure(evaluation.baseline or "", label, gains)
        out.append((GAINS_FIGURE, f"PSNR gain vs LPIPS gain over {evaluation.baseline}", png))
    for image, crops in evaluation.crops.items():
        captions = {name: _caption(evaluation, image, name) for name in crops.images}
        png = crops_figure(image, crops.hr, crops.box, crops.images, captions)
        out.append((crops_file(image), f"Same region, every method: {image}", png))
    return out


def _gains(evaluation: Evaluation) -> dict[str, tuple[list[float], list[float]]]:
    """Per-image (PSNR gain, LPIPS gain) over the baseline, for images both have."""
    baseline = evaluation.baseline
    metrics = evaluation.settings.metrics
    if baseline is None or "psnr" not in metrics or "lpips" not in metrics:
        return {}
    psnr_key = f"psnr_{evaluation.settings.channels[0]}"
    by_key = {(s.image, s.method): s.values for s in evaluation.scores}
    gains: dict[str, tuple[list[float], list[float]]] = {}
    for method in evaluation.methods:
        if method == baseline:
            continue
        psnr_gain, lpips_gain = [], []
        for image in evaluation.samples:
            ours, base = by_key.get((image, method)), by_key.get((image, baseline))
            if ours is None or base is None:
                continue
            psnr_gain.append(ours[psnr_key] - base[psnr_key])
            lpips_gain.append(base["lpips"] - ours["lpips"])
        if psnr_gain:
            gains[method] = (psnr_gain, lpips_gain)
    return gains


def write_report(
    evaluation: Evaluation,
    folder: str | os.PathLike[str],
    *,
    title: str,
    overwrite: bool = False,
) -> list[Path]:
    """Write every output; returns their paths (the HTML page last)."""
    from rwsr.eval.page import html_page

    folder = Path(folder)
    written = []
    pngs = figures(evaluation)
    texts = {
        "scores.csv": scores_csv(evaluation),
        "summary.md": summary_markdown(evaluation, title),
        "summary.json": summary_json(evaluation, title),
    }
    for name, text in texts.items():
        write_text_atomic(folder / name, text, overwrite=overwrite)
        written.append(folder / name)
    for name, _, png in pngs:
        write_bytes_atomic(folder / name, png, overwrite=overwrite)
        written.append(folder / name)
    captions = {caption: png for _, caption, png in pngs}
    page = html_page(evaluation, title, captions, [*texts, *(name for name, _, _ in pngs)])
    write_text_atomic(folder / "report.html", page, overwrite=overwrite)
    written.append(folder / "report.html")
    return written
