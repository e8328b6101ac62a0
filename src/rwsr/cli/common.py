"""What every subcommand shares: turning RwsrError into a message and an exit status, and
the process-wide memory policy of a command-line run."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, ParamSpec, TypeVar

import typer

from rwsr.errors import RwsrError

# Options several commands share, spelled once (the model-running ones: upscale, evaluate).
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Precision = Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (fp16 only on GPUs).")]
Tile = Annotated[
    int | None, typer.Option(help="Tile size in input pixels [default: from free memory].")
]
Overwrite = Annotated[bool, typer.Option(help="Replace existing output files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print an RwsrError as `error: message` on stderr and exit with its code, and Ctrl-C as
    one line with status 130 (commands that can resume say how themselves); no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RwsrError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; finished outputs are kept, partial ones removed", err=True)
            raise typer.Exit(130) from None

    return wrapper


@contextlib.contextmanager
def resumable(what: object, how: str) -> Iterator[None]:
    """Ctrl-C inside: one line naming `what` and how to continue it (`how`), status 130, for
    the commands that can resume (the generic line of `reports_errors` cannot say how)."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(f"{what}: interrupted; {how}", err=True)
        raise typer.Exit(130) from None


def keep_freed_memory() -> None:
    """Let this process reuse the memory it frees instead of handing it back to the OS.

    glibc serves every large tensor with a fresh mmap that the kernel zero-fills page by page
    on first touch, and unmaps it on free: an x4 forward of a 300x200 photo page-faults about
    2 GB that way (500,000 faults). Kept in the heap, the same memory is reused: upscaling
    is 20-30% faster on a 2-core VM and a paper-model training step 1.6x, for about 20% more
    peak memory. The process never shrinks afterwards; its jobs (frames, training steps)
    allocate the same sizes again and again, so the heap is reused rather than grown. Only
    the command line does this: a library must not change its host's allocator. A no-op
    where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_MAX, 0)  # large blocks come from the heap, where freed ones are reused
    mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # and the heap's free top is not given back


_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_MAX = -4
