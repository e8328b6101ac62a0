"""Raters' queues (balanced, randomised, even coverage) and rating rules, without HTTP."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rwsr.mos.schedule import trial_order
from rwsr.mos.study import AlreadyRated, Study, TrialError, UnknownTrial


@pytest.mark.parametrize(
    ("patches", "methods"), [(10, 3), (7, 2), (3, 2), (5, 3), (2, 4), (1, 1), (100, 5)]
)
def test_order_shows_every_pair_once_in_balanced_rounds(patches: int, methods: int) -> None:
    ids = list(range(100, 100 + patches))
    order = trial_order(ids, methods, np.random.default_rng(patches * methods))
    assert sorted(order) == sorted((m, p) for m in range(methods) for p in ids)
    for start in range(0, len(order), methods):
        assert sorted(m for m, _ in order[start : start + methods]) == list(range(methods))
    pairs = list(itertools.pairwise(order))
    if patches >= methods > 1:  # never the same patch twice in a row
        assert all(a[1] != b[1] for a, b in pairs)
    if patches >= 2 * methods > 2:  # and, with room, never the same method twice in a row
        assert all(a[0] != b[0] for a, b in pairs)


def test_order_is_random_per_rater() -> None:
    orders = {tuple(trial_order(range(10), 3, np.random.default_rng(seed))) for seed in range(5)}
    assert len(orders) == 5


def test_queues_hold_every_trial_and_differ_between_raters(
    make_study: Callable[..., Path],
) -> None:
    study = Study(make_study(patches=6))
    queues = []
    for _ in range(3):
        _, rater = study.create_rater()
        assert study.progress(rater).total == 12
        queues.append([study.patch_png(rater, p, "result") for p in range(12)])
    assert all(len(set(queue)) == 12 for queue in queues)
    assert set(queues[0]) == set(queues[1]) == set(queues[2])
    assert queues[0] != queues[1] or queues[1] != queues[2]
    study.close()


def test_patches_per_rater_keeps_coverage_even(make_study: Callable[..., Path]) -> None:
    db = make_study(patches=6, patches_per_rater=2)
    study = Study(db)
    seen: Counter[bytes] = Counter()
    for _ in range(6):
        _, rater = study.create_rater()
        assert study.progress(rater).total == 4  # 2 patches x 2 methods
        references = {study.patch_png(rater, p, "reference") for p in range(4)}
        assert len(references) == 2  # each patch shown once per method
        seen.update(references)
    assert sorted(seen.values()) == [2] * 6  # 6 raters x 2 patches spread over 6 patches
    study.close()


def test_rate_progress_and_resume(make_study: Callable[..., Path]) -> None:
    db = make_study(patches=3)
    study = Study(db)
    token, rater = study.create_rater()
    assert study.progress(rater).next == 0
    progress = study.rate(rater, 0, 4, elapsed_ms=1500)
    assert (progress.done, progress.total, progress.next) == (1, 6, 1)
    study.rate(rater, 2, 0)
    assert study.progress(rater).next == 1  # the first gap, not the last answer
    assert study.score(rater, 0) == 4 and study.score(rater, 1) is None
    study.close()

    reopened = Study(db)  # a restarted server finds the same rater by token
    assert reopened.rater_id(token) == rater
    assert reopened.rater_id("forged") is None
    assert reopened.progress(rater).done == 2
    reopened.close()


def test_rating_rules(make_study: Callable[..., Path]) -> None:
    study = Study(make_study(patches=3))
    _, rater = study.create_rater()
    _, other = study.create_rater()
    study.rate(rater, 0, 2)
    with pytest.raises(AlreadyRated):
        study.rate(rater, 0, 3)
    with pytest.raises(UnknownTrial):
        study.rate(rater, 6, 1)
    with pytest.raises(UnknownTrial):
        study.rate(rater, 2**70, 1)
    with pytest.raises(TrialError, match="score must be an integer from 0 to 5"):
        study.rate(rater, 1, 6)
    study.rate(other, 0, 5)  # same position, other rater's own trial
    assert study.score(rater, 0) == 2
    study.close()


def test_revisions_update_in_place(make_study: Callable[..., Path]) -> None:
    db = make_study(patches=3, allow_revisions=True)
    study = Study(db)
    _, rater = study.create_rater()
    study.rate(rater, 0, 2)
    progress = study.rate(rater, 0, 3)
    assert progress.done == 1 and study.score(rater, 0) == 3
    study.close()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT score, revisions FROM ratings").fetchall() == [(3, 1)]
