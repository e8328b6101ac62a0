"""Run one function per file over worker processes: bounded memory, per-file errors, progress.

A failing file never stops the batch: its RwsrError message (or the unexpected exception)
comes back as the result and the caller reports it. At most `2 * workers` files are in flight,
so memory stays bounded by a few decoded images per worker.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
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


def _init_worker(parent: int) -> None:
    """Workers die with their parent and leave Ctrl-C to it.

    A `kill -9` of the parent would otherwise leave the workers (and the resource tracker
    they keep open) running for good: on Linux the kernel sends them SIGKILL when the parent
    dies. Ctrl-C reaches the whole process group; ignored here, the parent alone reports it
    (one line) while the pool shuts down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    # The processes already use the cores; set before torch or OpenCV start their pools.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


class _SpawnContext(multiprocessing.context.SpawnContext):
    """Spawn with Ctrl-C held off from the worker's first instruction. Without it, a Ctrl-C
    while a worker is still importing (before `_init_worker` runs) prints that worker's
    traceback. On POSIX SIGINT is blocked around the start: the worker inherits the blocked
    mask through exec (until `_init_worker` ignores it), and in the parent a Ctrl-C of that
    moment waits and arrives when the mask is restored. Ignoring it instead (the fallback
    where signal masks do not exist) would lose a Ctrl-C that lands while a worker starts:
    the run would go on and end as if never interrupted."""

    class Process(multiprocessing.context.SpawnProcess):
        def start(self) -> None:
            if threading.current_thread() is not threading.main_thread():
                return super().start()  # only the main thread may change signal handlers
            if hasattr(signal, "pthread_sigmask"):
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    return super().start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                return super().start()
            finally:
                signal.signal(signal.SIGINT, previous)


class WorkerPool:
    """Spawned worker processes that several batches share (starting them costs seconds).

    Spawned, not forked, so no thread pool or open file of the caller leaks into them. With
    `workers` <= 1 everything runs in the calling process.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> WorkerPool:  # noqa: PYI034 - not meant to be subclassed
        if self.workers > 1:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_SpawnContext(),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def run(
        self, function: Callable[[Item], Result], items: Sequence[Item]
    ) -> Iterator[Outcome[Item, Result]]:
        """Outcomes in completion order, at most 2 * workers items in flight."""
        if self._executor is None or len(items) <= 1:
            for item in items:
                yield _guarded(function, item)
            return
        pending: set[Future[Outcome[Item, Result]]] = set()
        for item in items:
            pending.add(self._executor.submit(_guarded, function, item))
            if len(pending) >= 2 * self.workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)


def run_per_file(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int | WorkerPool = 1,
    description: str = "",
    progress: bool = True,
) -> Iterator[Outcome[Item, Result]]:
    """Yield one Outcome per item, in completion order, with a progress bar.

    `workers` is a process count (a pool just for this batch) or a running WorkerPool.
    `function` must be picklable (a module-level function or a functools.partial of one).
    """
    bar = tqdm(total=len(items), desc=description, unit="file", disable=not progress, leave=False)
    try:
        if isinstance(workers, WorkerPool):
            for outcome in workers.run(function, items):
                yield outcome
                bar.update()
            return
        with WorkerPool(workers) as pool:
            for outcome in pool.run(function, items):
                yield outcome
                bar.update()
    finally:
        bar.close()
