"""Per-method means of an evaluation and which method is best in each column."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rwsr.eval.runner import HR_ROW, Evaluation
from rwsr.eval.scorer import Column


@dataclass(frozen=True)
class Row:
    """One table row: a method (or the HR reference, NIQE only) and its mean scores."""

    method: str
    images: int
    means: dict[str, float]
    reference: bool = False


def summarize(evaluation: Evaluation) -> list[Row]:
    """Methods in the order given (baseline first), then HR's own NIQE where computed."""
    columns = evaluation.settings.columns()
    rows = []
    for method in evaluation.methods:
        images = len({s.image for s in evaluation.scores if s.method == method})
        means = {
            c.key: float(np.mean(values))
            for c in columns
            if (values := evaluation.values(method, c.key))
        }
        rows.append(Row(method=method, images=images, means=means))
    hr_niqe = [v["niqe"] for v in evaluation.reference.values() if "niqe" in v]
    if hr_niqe:
        rows.append(Row(HR_ROW, len(hr_niqe), {"niqe": float(np.mean(hr_niqe))}, reference=True))
    return rows


def best_methods(rows: list[Row], columns: list[Column]) -> dict[str, set[str]]:
    """Column key -> the method(s) with the best mean (ties share it).

    Only methods scored on the most images compete (a mean over other images is not
    comparable), and HR is a reference, not a contender.
    """
    contenders = [r for r in rows if not r.reference]
    most = max((r.images for r in contenders), default=0)
    contenders = [r for r in contenders if r.images == most]
    best: dict[str, set[str]] = {}
    for column in columns:
        scored = [(r.means[column.key], r.method) for r in contenders if column.key in r.means]
        scored = [(v, m) for v, m in scored if not math.isnan(v)]
        if len(scored) < 2:
            continue
        target = max(v for v, _ in scored) if column.higher_is_better else min(v for v, _ in scored)
        best[column.key] = {m for v, m in scored if v == target}
    return best
