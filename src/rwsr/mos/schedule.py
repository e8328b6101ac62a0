"""The order in which one rater sees their trials: random, yet balanced over methods.

A rater's trials are every method on the same set of patches (a paired design: method
differences are judged on the same content by the same person). They come in rounds; each
round shows every method once, in a fresh random order, so at any point of a session the
methods have been seen equally often and fatigue or learning spreads over all of them. Within
a round the methods show different patches, and the same patch comes back for another method
only about len(patches)/len(methods) rounds later, so memory of the last answer fades.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def trial_order(
    patches: Sequence[int], methods: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """(method index, patch id) pairs, each exactly once, in presentation order."""
    chosen = [patches[int(i)] for i in rng.permutation(len(patches))]
    count = len(chosen)
    # Method j in round r shows patch r + j*stride; for each j this visits every patch once.
    stride = max(1, count // methods)
    order: list[tuple[int, int]] = []
    for round_index in range(count):
        shuffled = [int(j) for j in rng.permutation(methods)]
        rounds = [
            [(j, chosen[(round_index + j * stride) % count]) for j in shuffled[s:] + shuffled[:s]]
            for s in range(methods)
        ]
        # Open the round so that it does not repeat the previous patch (a side-by-side
        # comparison of two methods) or, second, the previous method.
        best = min(range(methods), key=lambda shift: _clash(order, rounds[shift][0]))
        order.extend(rounds[best])
    return order


def _clash(order: list[tuple[int, int]], first: tuple[int, int]) -> int:
    if not order:
        return 0
    method, patch = order[-1]
    return 2 * (first[1] == patch) + (first[0] == method)
