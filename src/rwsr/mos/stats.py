"""Statistics of opinion scores: mean with a t confidence interval, rater agreement.

Pure functions on arrays, so the numbers in a report can be checked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """Mean of n scores with its two-sided confidence interval (NaN where n is too small)."""

    mean: float
    std: float
    n: int
    low: float
    high: float


def mean_ci(scores: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Mean ± t(1-(1-confidence)/2, n-1) · s/√n, the usual MOS interval (ITU-R BT.500).

    It treats ratings as independent; rater effects make the true uncertainty somewhat larger.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = int(scores.size)
    if n == 0:
        return Estimate(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(scores.mean())
    if n == 1:
        return Estimate(mean, math.nan, 1, math.nan, math.nan)
    std = float(scores.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(mean, std, n, mean - half, mean + half)


def consensus_correlation(
    raters: np.ndarray, trials: np.ndarray, scores: np.ndarray, *, min_pairs: int = 3
) -> dict[int, float | None]:
    """Per rater: Pearson r between their scores and the mean of the other raters' scores on
    the same trials (leave-one-out, so a rater does not agree with themselves).

    A careful rater tracks the consensus (r near 1); one who answers at random scores near 0.
    None where fewer than `min_pairs` of their trials were rated by others, or either side
    has no variation.
    """
    raters = np.asarray(raters, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    _, trial_index = np.unique(trials, return_inverse=True)
    sums = np.bincount(trial_index, weights=scores)
    counts = np.bincount(trial_index)
    others = counts[trial_index] - 1
    shared = others > 0
    consensus = np.divide(
        sums[trial_index] - scores, others, out=np.zeros_like(scores), where=shared
    )
    result: dict[int, float | None] = {}
    for rater in np.unique(raters):
        mine = (raters == rater) & shared
        own, rest = scores[mine], consensus[mine]
        if own.size < min_pairs or np.ptp(own) == 0 or np.ptp(rest) == 0:
            result[int(rater)] = None
        else:
            result[int(rater)] = float(np.corrcoef(own, rest)[0, 1])
    return result
