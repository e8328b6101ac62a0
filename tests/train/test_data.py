"""The training data's draws: epoch e a function of (seed, e, rank), a resumed stream that
continues where it stopped, workers that start once and change no sample."""

from __future__ import annotations

import itertools

import numpy as np
import psutil
import pytest
import torch

from rwsr.train.data import SampleDraws, build_training_data

CPU = torch.device("cpu")


def keys(draws: SampleDraws, count: int, start: int = 0) -> list[tuple[int, int]]:
    draws.start = start
    return list(itertools.islice(draws, count))


def test_each_epoch_is_a_permutation_split_between_the_processes() -> None:
    """Without shares every pair is drawn once per epoch; two processes take disjoint halves
    of one permutation; each epoch orders anew; whole batches only."""
    ranks = [SampleDraws(pairs=11, weights=None, seed=3, rank=r, world=2, batch=2) for r in (0, 1)]
    assert ranks[0].per_epoch == 4  # 11 pairs // 2 processes = 5, in whole batches of 2
    epoch0 = [ranks[r].epoch(0)[0] for r in (0, 1)]
    assert len(set(epoch0[0]) | set(epoch0[1])) == 8  # disjoint, none repeated
    assert not np.array_equal(ranks[0].epoch(1)[0], epoch0[0])
    first, second = ranks[0].epoch(0)[1], ranks[1].epoch(0)[1]
    assert len(set(first) | set(second)) == 8  # sample seeds differ between processes
    again = SampleDraws(pairs=11, weights=None, seed=3, rank=0, world=2, batch=2)
    assert keys(again, 12) == keys(ranks[0], 12)  # a function of (seed, epoch, rank)
    indices, seeds = ranks[0].epoch(1)
    assert keys(ranks[0], 12)[4:8] == [
        (int(i), int(s)) for i, s in zip(indices, seeds, strict=True)
    ]


def test_shares_draw_with_replacement_by_weight() -> None:
    weights = [0.9 / 2] * 2 + [0.1 / 8] * 8
    draws = SampleDraws(pairs=10, weights=weights, seed=0, rank=0, world=1, batch=5)
    drawn = [index for index, _ in keys(draws, 2000)]
    assert 0.85 < sum(index < 2 for index in drawn) / len(drawn) < 0.95


def test_a_stream_started_at_sample_n_is_the_whole_stream_from_n() -> None:
    draws = SampleDraws(pairs=7, weights=None, seed=5, rank=0, world=1, batch=3)
    whole = keys(draws, 30)
    for start in (0, 4, 6, 13):
        assert keys(draws, 30 - start, start=start) == whole[start:]


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_workers_start_once_and_change_no_batch(tiny_config, tmp_path, cache: str) -> None:
    """Over several epochs, two worker processes give the batches the main process gives;
    they are the same two processes throughout; a stream resumed at iteration 4 is the
    uninterrupted one from there."""
    overrides = [f"data.cache={cache}", f"data.cache_dir={tmp_path / 'decoded'}"]

    def data(workers: int):
        config = tiny_config(*overrides, f"data.workers={workers}")
        return build_training_data(config.data, scale=1, seed=0, rank=0, world=1, device=CPU)

    def children() -> set[int]:
        return {child.pid for child in psutil.Process().children()}

    main = data(0)
    per_epoch = main.draws.per_epoch // main.loader.batch_size
    reference = list(itertools.islice(main.batches(start_iteration=0), 3 * per_epoch))
    others, with_workers = children(), data(2)
    stream = with_workers.batches(start_iteration=0)
    first = next(stream)
    workers = children() - others
    assert len(workers) == 2
    rest = list(itertools.islice(stream, 3 * per_epoch - 1))
    assert children() - others == workers
    for got, expected in zip([first, *rest], reference, strict=True):
        assert torch.equal(got["lr"], expected["lr"]) and torch.equal(got["hr"], expected["hr"])
    resumed = with_workers.batches(start_iteration=4)  # the same workers, another start
    assert torch.equal(next(resumed)["hr"], reference[4]["hr"])
    assert children() - others == workers
