"""Training checkpoints: one plain dict per file, written atomically, read with
torch.load(weights_only=True).

A checkpoint holds everything `--resume` needs to continue exactly: G, D, optimisers, grad
scaler, EMA, RNG states, the iteration (which sets the learning rates), the resolved config
and the best validation result (checkpoints of earlier versions also hold scheduler states,
which are not needed). `iter_NNNNNNN.pt` files are rotated (the newest N kept); `best.pt` is
the best validation so far; `generator.safetensors` is the latest G (EMA if enabled) in the
rwsr format that `rwsr upscale --model` takes.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rwsr.atomic import atomic_path
from rwsr.errors import CheckpointError

CHECKPOINT_PATTERN = re.compile(r"^iter_(\d{7})\.pt$")


def checkpoint_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "checkpoints" / f"iter_{iteration:07d}.pt"


def latest_checkpoint(run_dir: Path) -> Path | None:
    folder = run_dir / "checkpoints"
    found = (
        sorted(p for p in folder.glob("iter_*.pt") if CHECKPOINT_PATTERN.match(p.name))
        if folder.is_dir()
        else []
    )
    return found[-1] if found else None


def save_checkpoint(state: dict[str, Any], path: Path, *, keep: int | None = None) -> None:
    """Write atomically (a kill mid-write leaves the previous files intact), then rotate."""
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)
    if keep is not None:
        old = sorted(p for p in path.parent.glob("iter_*.pt") if CHECKPOINT_PATTERN.match(p.name))
        for stale in old[:-keep]:
            stale.unlink(missing_ok=True)


REQUIRED_KEYS = frozenset({"iteration", "config", "generator", "opt_g", "rng"})


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint written by `save_checkpoint`; anything else (a generator file, a
    plain state dict) is a CheckpointError that says what to use instead."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint does not exist") from None
    except Exception as error:  # noqa: BLE001 - truncated zip, pickle errors alike
        raise CheckpointError(f"{path}: cannot read training checkpoint ({error})") from None
    if not isinstance(state, dict) or not REQUIRED_KEYS <= state.keys():
        raise CheckpointError(
            f"{path}: not an rwsr training checkpoint (those are run/checkpoints/iter_*.pt);"
            " to start a new run from these weights, set model.init_from"
        )
    return state


def rng_state() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [
            numpy_state[0],
            torch.from_numpy(numpy_state[1].astype(np.int64)),
            *numpy_state[2:],
        ],
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
