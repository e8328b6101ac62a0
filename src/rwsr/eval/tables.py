"""The evaluation as text: per-image CSV, and the summary in Markdown and JSON laid out like
the paper's Tables I-V (methods as rows, metrics as columns with the better direction, best
in bold), each with the conventions it was computed under."""

from __future__ import annotations

import csv
import io
import json
import math

from rwsr.eval.runner import HR_ROW, Evaluation
from rwsr.eval.summary import Row, best_methods, summarize

DECIMALS = {"psnr": 3, "ssim": 4, "lpips": 4, "niqe": 4}  # as the paper prints them


def format_value(key: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{DECIMALS[key.split('_')[0]]}f}"


def _json_number(value: float) -> float | str | None:
    """JSON has no inf/NaN: inf (identical images) becomes "inf", NaN becomes null."""
    if math.isnan(value):
        return None
    return "inf" if math.isinf(value) else value


def scores_csv(evaluation: Evaluation) -> str:
    """One line per image and method (and HR's NIQE), evaluated or not, with the reason."""
    columns = [c.key for c in evaluation.settings.columns()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image", "method", "status", *columns, "reason"])

    def cells(values: dict[str, float]) -> list[str]:
        return [format(values[k], ".10g") if k in values else "" for k in columns]

    for score in evaluation.scores:
        status = "warning" if score.notes else "ok"  # evaluated, with the caveat as reason
        writer.writerow(
            [score.image, score.method, status, *cells(score.values), "; ".join(score.notes)]
        )
    for image, reference in evaluation.reference.items():
        if reference:
            notes = "; ".join(evaluation.reference_notes.get(image, ()))
            writer.writerow([image, HR_ROW, "reference", *cells(reference), notes])
    for problem in evaluation.problems:
        method = problem.method or "(all methods)"
        writer.writerow(
            [problem.image, method, "not evaluated", *[""] * len(columns), problem.reason]
        )
    return out.getvalue()


PROBLEMS_SHOWN = 8  # per method in Markdown/HTML; scores.csv lists every one


def problem_lines(evaluation: Evaluation) -> list[str]:
    """What was not evaluated, grouped by method, the first few of each with their reason."""
    by_method: dict[str, list[str]] = {}
    for p in evaluation.problems:
        by_method.setdefault(p.method or "all methods", []).append(f"{p.image}: {p.reason}")
    lines = []
    for method, entries in by_method.items():
        shown = entries[:PROBLEMS_SHOWN]
        more = len(entries) - len(shown)
        lines += [f"{method} / {entry}" for entry in shown]
        if more:
            lines.append(f"{method}: {more} more image(s) not evaluated (see scores.csv)")
    return lines


def _images_cell(row: Row, total: int) -> str:
    return str(row.images) if row.images == total or row.reference else f"{row.images} of {total}"


def summary_markdown(evaluation: Evaluation, title: str) -> str:
    rows = summarize(evaluation)
    columns = evaluation.settings.columns()
    best = best_methods(rows, columns)
    total = len(evaluation.samples)
    header = ["Method", "Images", *[f"{c.label} {c.arrow}" for c in columns]]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" + "---:|" * (len(header) - 1))
    for row in rows:
        cells = [row.method, _images_cell(row, total)]
        for column in columns:
            text = (
                format_value(column.key, row.means.get(column.key))
                if column.key in row.means
                else "–"
            )
            cells.append(f"**{text}**" if row.method in best.get(column.key, set()) else text)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Best in bold, among methods scored on the most images (HR is a reference).",
        "",
        "Conventions:",
        "",
    ]
    lines += [f"- {line}" for line in evaluation.settings.conventions()]
    if evaluation.problems:
        lines += ["", f"Not evaluated ({len(evaluation.problems)}):", ""]
        lines += [f"- {line}" for line in problem_lines(evaluation)]
    if evaluation.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in evaluation.notes]
    return "\n".join(lines) + "\n"


def summary_json(evaluation: Evaluation, title: str) -> str:
    rows = summarize(evaluation)
    columns = evaluation.settings.columns()
    best = best_methods(rows, columns)
    document = {
        "title": title,
        "complete": evaluation.complete,
        "images": len(evaluation.samples),
        "baseline": evaluation.baseline,
        "conventions": evaluation.settings.conventions(),
        "settings": evaluation.settings.model_dump(),
        "columns": [c.model_dump() for c in columns],
        "rows": [
            {
                "method": row.method,
                "reference": row.reference,
                "images": row.images,
                "means": {k: _json_number(v) for k, v in row.means.items()},
                "best": sorted(k for k, methods in best.items() if row.method in methods),
            }
            for row in rows
        ],
        "not_evaluated": [
            {"image": p.image, "method": p.method, "reason": p.reason} for p in evaluation.problems
        ],
        "notes": evaluation.notes,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
