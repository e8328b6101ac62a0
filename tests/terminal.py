"""Starting a command as a terminal's shell does, for the tests that press Ctrl-C on it."""

from __future__ import annotations

import sys

# Resets SIGINT to its default and unblocks it, then becomes the command (exec keeps both).
_RESET_THEN_EXEC = (
    "import os, signal, sys;"
    "signal.signal(signal.SIGINT, signal.SIG_DFL);"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT});"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def as_from_a_terminal(command: list[str]) -> list[str]:
    """`command` started with SIGINT at its default and unblocked, as a shell starts a
    program. A child inherits an ignored or blocked SIGINT from the test process, whose state
    other tests in the same pytest worker can change; seen in full runs on a loaded host:
    SIGINT never reached the child, which finished its work and exited 0."""
    return [sys.executable, "-c", _RESET_THEN_EXEC, *command]
