"""A report as text: Markdown (the paper's Table V MOS column), CSV and JSON.

Every file states the convention: the scale, that lower is better, and how the interval
was computed, so a number never travels without its meaning.
"""

from __future__ import annotations

import csv
import io
import json
import math

from rwsr.mos.results import Report
from rwsr.mos.scale import LABELS


def convention(report: Report) -> str:
    scale = ", ".join(f"{score} {label}" for score, label in enumerate(LABELS))
    return (
        "Mean opinion score on the paper's 6-level scale, each result patch shown beside the "
        f"reference patch at the same position: {scale}; lower is better. "
        f"{report.confidence:.0%} CI: mean ± t·s/√n over individual ratings (ITU-R BT.500)."
    )


def _number(value: float | None, digits: int = 2, missing: str = "–") -> str:
    return missing if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cell(value: float | None) -> str:
    """A CSV number: 4 decimals, empty when undefined."""
    return _number(value, 4, missing="")


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def markdown(report: Report) -> str:
    config = report.config
    per_rater = (config.patches_per_rater or config.patches) * len(config.methods)
    means = [m.estimate.mean for m in report.methods if not math.isnan(m.estimate.mean)]
    best = min(means) if means else None
    ci = f"{report.confidence:.0%} CI"
    lines = [
        f"# MOS — {report.study.name}",
        "",
        convention(report),
        "",
        (
            f"{_count(report.used_raters, 'rater')}, {_count(report.used_ratings, 'rating')} in "
            f"the MOS; {config.patches} patches of {config.patch_size}×{config.patch_size} px, "
            f"{per_rater} trials per rater. Generated {report.generated}."
        ),
    ]
    excluded = [r for r in report.raters if r.excluded]
    if excluded:
        left_out = "; ".join(f"rater {r.rater} ({r.excluded})" for r in excluded)
        lines += ["", f"Left out: {left_out}."]
    lines += ["", f"| Method | MOS ↓ | {ci} | Ratings | Raters |", "|:--|--:|--:|--:|--:|"]
    for method in report.methods:
        e = method.estimate
        mos = _number(e.mean)
        if best is not None and e.mean == best:
            mos = f"**{mos}**"
        interval = "–" if math.isnan(e.low) else f"{e.low:.2f}–{e.high:.2f}"
        lines.append(f"| {method.name} | {mos} | {interval} | {e.n} | {method.raters} |")
    header = " | ".join(f"{score} {label}" for score, label in enumerate(LABELS))
    lines += [
        "",
        "## Ratings per score",
        "",
        f"| Method | {header} |",
        "|:--|" + "--:|" * len(LABELS),
    ]
    for method in report.methods:
        lines.append(f"| {method.name} | " + " | ".join(map(str, method.histogram)) + " |")
    lines += [
        "",
        "## Raters",
        "",
        (
            "Consensus r: Pearson correlation of a rater's scores with the other raters' mean on "
            "the same trials; careless raters score near 0."
        ),
        "",
        "| Rater | Ratings | Mean | SD | Consensus r | Median time (s) | In MOS |",
        "|--:|--:|--:|--:|--:|--:|:--|",
    ]
    for r in report.raters:
        lines.append(
            f"| {r.rater} | {r.ratings} | {_number(r.mean)} | {_number(r.std)} | "
            f"{_number(r.consensus_r)} | {_number(r.median_seconds, 1)} | "
            f"{'no: ' + r.excluded if r.excluded else 'yes'} |"
        )
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def methods_csv(report: Report) -> str:
    header = ["method", "mos", "ci_low", "ci_high", "std", "ratings", "raters"]
    header += [f"score_{score}" for score in range(len(LABELS))]
    rows = []
    for m in report.methods:
        e = m.estimate
        rows.append(
            [
                m.name,
                _cell(e.mean),
                _cell(e.low),
                _cell(e.high),
                _cell(e.std),
                e.n,
                m.raters,
                *m.histogram,
            ]
        )
    return _csv(header, rows)


def raters_csv(report: Report) -> str:
    header = ["rater", "ratings", "mean", "std", "consensus_r", "median_seconds", "excluded"]
    rows = [
        [
            r.rater,
            r.ratings,
            _cell(r.mean),
            _cell(r.std),
            _cell(r.consensus_r),
            _cell(r.median_seconds),
            r.excluded or "",
        ]
        for r in report.raters
    ]
    return _csv(header, rows)


def to_json(report: Report) -> str:
    data = {
        "study": str(report.study),
        "generated": report.generated,
        "convention": convention(report),
        "confidence": report.confidence,
        "config": report.config.model_dump(mode="json"),
        "methods": [
            {
                "name": m.name,
                "mos": _finite(m.estimate.mean),
                "ci_low": _finite(m.estimate.low),
                "ci_high": _finite(m.estimate.high),
                "std": _finite(m.estimate.std),
                "ratings": m.estimate.n,
                "raters": m.raters,
                "histogram": dict(zip(map(str, range(len(LABELS))), m.histogram)),
            }
            for m in report.methods
        ],
        "raters": [
            {
                "rater": r.rater,
                "ratings": r.ratings,
                "mean": _finite(r.mean),
                "std": _finite(r.std),
                "consensus_r": _finite(r.consensus_r),
                "median_seconds": _finite(r.median_seconds),
                "excluded": r.excluded,
            }
            for r in report.raters
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
