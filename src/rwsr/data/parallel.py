"""Run one function per file over worker processes: bounded memory, per-file errors, progress.

A failing file never stops the batch: its RwsrError message (or the unexpected exception)
comes back as the result and the caller reports it. At most `2 * workers` files are in flight,
so memory stays bounded by a few decoded images per worker.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from tqdm import tqdm

from rwsr.errors import RwsrError

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Outcome(Generic[Item, Result]):
    """What one file gave: a result, or the message of the error it raised."""

    item: Item
    result: Result | None = None
    error: str | None = None


def _guarded(function: Callable[[Item], Result], item: Item) -> Outcome[Item, Result]:
    try:
        return Outcome(item, function(item))
    except RwsrError as error:
        return Outcome(item, error=str(error))
    except Exception as error:  # noqa: BLE001 - one broken file must not stop a batch
        return Outcome(item, error=f"{item}: unexpected {type(error).__name__}: {error}")


def _single_thread_worker() -> None:
    import torch

    torch.set_num_threads(1)  # the processes already use the cores


def run_per_file(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int = 1,
    description: str = "",
    progress: bool = True,
) -> Iterator[Outcome[Item, Result]]:
    """Yield one Outcome per item, in completion order.

    `function` must be picklable (a module-level function or functools.partial of one) when
    `workers` > 1; worker processes are spawned, not forked, so no thread pool or open file
    of the caller leaks into them.
    """
    bar = tqdm(total=len(items), desc=description, unit="file", disable=not progress, leave=False)
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                yield _guarded(function, item)
                bar.update()
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_single_thread_worker
        ) as pool:
            pending: set[Future[Outcome[Item, Result]]] = set()
            queue: Iterable[Item] = iter(items)
            for item in queue:
                pending.add(pool.submit(_guarded, function, item))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                        bar.update()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    bar.update()
    finally:
        bar.close()
