"""Worker processes die with their parent and leave Ctrl-C to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from terminal import as_from_a_terminal

SCRIPT = """
import sys, time
from rwsr.data.parallel import WorkerPool
try:
    with WorkerPool(2) as pool:
        for _ in pool.run(time.sleep, [float(sys.argv[1]), 0.0]):  # then one worker idles
            pass
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


def _workers(parent: psutil.Process, count: int, settle: float = 1.0) -> list[psutil.Process]:
    """The pool's worker processes, once `count` of them run (spawned: a few seconds), after
    `settle` seconds more (0: while they may still be importing)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = [
            c
            for c in parent.children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline())
        ]
        if len(children) >= count:
            time.sleep(settle)
            return children
        time.sleep(0.1)
    pytest.fail("the pool's workers did not start")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_workers_die_when_the_parent_is_killed() -> None:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, "60"])
    parent = psutil.Process(process.pid)
    workers = _workers(parent, 2)
    everything = parent.children(recursive=True)  # workers and the resource tracker
    process.kill()
    process.wait()
    gone, alive = psutil.wait_procs(everything, timeout=20)
    assert not alive, [p.cmdline() for p in alive]
    assert len(gone) >= len(workers)


@pytest.mark.parametrize("settle", [1.0, 0.0], ids=["at-work", "starting"])
def test_ctrl_c_is_reported_once_by_the_parent(settle: float) -> None:
    """Also while the workers are still starting (importing), before their initializer ran."""
    process = subprocess.Popen(
        as_from_a_terminal([sys.executable, "-c", SCRIPT, "3"]),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _workers(psutil.Process(process.pid), 2, settle)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip() == "interrupted", stderr
