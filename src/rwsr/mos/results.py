"""From stored ratings to MOS per method and rater statistics, as data (writing them is
rwsr.mos.report's job, as in rwsr.eval).

A report can be made while the study is being served: SQLite's WAL mode lets it read a
consistent snapshot while raters keep writing.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwsr.errors import ConfigError, InputError
from rwsr.mos.config import StudyConfig
from rwsr.mos.db import open_study
from rwsr.mos.scale import LABELS
from rwsr.mos.stats import Estimate, consensus_correlation, mean_ci


@dataclass(frozen=True)
class MethodScore:
    """One method's MOS: the estimate, how many raters contributed, ratings per score."""

    name: str
    estimate: Estimate
    raters: int
    histogram: tuple[int, ...]


@dataclass(frozen=True)
class RaterSummary:
    """How one rater answered; `excluded` says why their ratings are left out of the MOS."""

    rater: int
    ratings: int
    mean: float
    std: float
    consensus_r: float | None
    median_seconds: float | None
    excluded: str | None


@dataclass(frozen=True)
class Report:
    study: Path
    config: StudyConfig
    confidence: float
    methods: tuple[MethodScore, ...]
    raters: tuple[RaterSummary, ...]
    generated: str

    @property
    def used_raters(self) -> int:
        return sum(1 for rater in self.raters if rater.excluded is None)

    @property
    def used_ratings(self) -> int:
        return sum(method.estimate.n for method in self.methods)


def compute_report(
    db_path: Path,
    *,
    exclude: Iterable[int] = (),
    min_correlation: float | None = None,
    confidence: float = 0.95,
) -> Report:
    """MOS per method (study order) and per-rater statistics of the study in `db_path`.

    Raters in `exclude`, and those whose consensus correlation is below `min_correlation`
    (computed once, over all raters), are listed but left out of the MOS.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie between 0 and 1, got {confidence}")
    # A correlation lies in [-1, 1]: 2 would leave out every rater, NaN none (NaN compares
    # false), and both silently.
    if min_correlation is not None and not -1 <= min_correlation <= 1:
        raise ConfigError(
            f"--min-correlation must be a number from -1 to 1, but got {min_correlation:g}"
        )
    connection, config = open_study(db_path)
    try:
        methods = connection.execute("SELECT id, name FROM methods ORDER BY id").fetchall()
        rows = connection.execute(
            "SELECT r.rater_id, r.trial_id, t.method_id, r.score, r.elapsed_ms "
            "FROM ratings r JOIN trials t ON t.id = r.trial_id"
        ).fetchall()
    finally:
        connection.close()
    if not rows:
        raise InputError(f"{db_path}: the study has no ratings yet; nothing to report")
    raters, trials, method_ids, scores = (np.array([row[i] for row in rows]) for i in range(4))
    elapsed = np.array([math.nan if row[4] is None else row[4] / 1000 for row in rows])
    agreement = consensus_correlation(raters, trials, scores)
    excluded = _exclusions(agreement, set(exclude), min_correlation)

    summaries = []
    for rater, r in agreement.items():
        mine = raters == rater
        own = scores[mine].astype(np.float64)
        times = elapsed[mine][~np.isnan(elapsed[mine])]
        summaries.append(
            RaterSummary(
                rater=rater,
                ratings=int(own.size),
                mean=float(own.mean()),
                std=float(own.std(ddof=1)) if own.size > 1 else math.nan,
                consensus_r=r,
                median_seconds=float(np.median(times)) if times.size else None,
                excluded=excluded.get(rater),
            )
        )
    used = ~np.isin(raters, list(excluded))
    scored = []
    for method_id, name in methods:
        chosen = used & (method_ids == method_id)
        scored.append(
            MethodScore(
                name=name,
                estimate=mean_ci(scores[chosen], confidence),
                raters=int(np.unique(raters[chosen]).size),
                histogram=tuple(int(n) for n in np.bincount(scores[chosen], minlength=len(LABELS))),
            )
        )
    return Report(
        study=Path(db_path),
        config=config,
        confidence=confidence,
        methods=tuple(scored),
        raters=tuple(summaries),
        generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def _exclusions(
    agreement: dict[int, float | None], requested: set[int], min_correlation: float | None
) -> dict[int, str]:
    unknown = sorted(requested - set(agreement))
    if unknown:
        known = ", ".join(str(rater) for rater in sorted(agreement))
        raise ConfigError(
            f"cannot exclude rater(s) {', '.join(map(str, unknown))}: no ratings from them; "
            f"raters with ratings: {known}"
        )
    reasons = {rater: "excluded on request" for rater in requested}
    if min_correlation is not None:
        for rater, r in agreement.items():
            if r is not None and r < min_correlation and rater not in reasons:
                reasons[rater] = f"consensus r {r:.2f} < {min_correlation:.2f}"
    return reasons
