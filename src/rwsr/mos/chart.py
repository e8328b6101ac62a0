"""The MOS bar chart: one bar per method with its confidence interval, on the 0–5 scale."""

from __future__ import annotations

import io
import math

# A bare Figure renders with Agg and never touches pyplot's global state or a display.
from matplotlib.figure import Figure

from rwsr.mos.results import Report
from rwsr.mos.scale import LABELS, MAX_SCORE


def bar_chart_png(report: Report) -> bytes:
    """PNG bytes of the chart; methods without ratings get an empty slot labelled n=0."""
    names = [m.name for m in report.methods]
    means = [0.0 if math.isnan(m.estimate.mean) else m.estimate.mean for m in report.methods]
    below = [
        0.0 if math.isnan(m.estimate.low) else m.estimate.mean - m.estimate.low
        for m in report.methods
    ]
    above = [
        0.0 if math.isnan(m.estimate.high) else m.estimate.high - m.estimate.mean
        for m in report.methods
    ]
    figure = Figure(figsize=(max(4.0, 1.1 * len(names) + 2.5), 4.2), dpi=150)
    axes = figure.subplots()
    positions = range(len(names))
    axes.bar(
        positions,
        means,
        yerr=[below, above],
        capsize=6,
        color="#4c78a8",
        edgecolor="#2b4a6b",
        error_kw={"elinewidth": 1.2},
    )
    for x, method, mean in zip(positions, report.methods, means):
        if method.estimate.n:
            axes.annotate(
                f"{mean:.2f}", (x, mean), xytext=(8, 3), textcoords="offset points", fontsize=8
            )
    axes.set_xticks(list(positions), [f"{m.name}\nn={m.estimate.n}" for m in report.methods])
    axes.set_ylim(0, MAX_SCORE)
    axes.set_yticks(
        range(MAX_SCORE + 1), [f"{s} {label}" for s, label in enumerate(LABELS)], fontsize=8
    )
    axes.set_ylabel("MOS (lower is better)")
    axes.set_title(
        f"MOS with {report.confidence:.0%} CI — {report.used_raters} raters", fontsize=10
    )
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
