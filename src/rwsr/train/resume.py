"""Resuming a run: which checkpoint it continues from, the check that its config still
describes that checkpoint, the restored states, and the record of its best validation.

Exact resume: the data order of epoch e is a function of (seed, e, rank) alone
(rwsr.train.data), the learning rate of a step a function of its iteration
(rwsr.train.trainer.learning_rate), and the RNG, optimiser, scaler and EMA states are
restored, so N + M iterations equal N, kill, resume, M. The best validation so far
(`run.best`) travels in every checkpoint, so a resumed run's best.pt only ever improves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rwsr.errors import ConfigError
from rwsr.train.config import TrainConfig
from rwsr.train.ddp import unwrap
from rwsr.train.state import latest_checkpoint, load_checkpoint, restore_rng_state

if TYPE_CHECKING:
    from rwsr.train.trainer import Run


def checkpoint_to_resume(run_dir: Path, resume: Path | str | None) -> Path | None:
    """The checkpoint `resume` names: a path, or "latest" for the newest in run_dir (None
    when it has none: the run starts at iteration 0). Without `resume`, a run_dir that
    already holds checkpoints is refused: a new run there would rotate the old one's away."""
    resume_path = (
        latest_checkpoint(run_dir) if resume == "latest" else (Path(resume) if resume else None)
    )
    if resume_path is None and resume != "latest" and latest_checkpoint(run_dir) is not None:
        raise ConfigError(
            f"{run_dir} already holds checkpoints; pass --resume to continue it or pick"
            " another name"
        )
    return resume_path


# What a resumed run may change: how long it runs, how it logs and validates, where it runs.
RESUMABLE_CHANGES = frozenset(
    {
        "name",
        "optim.iterations",
        "log_every",
        "log_tensorboard",
        "log_wandb",
        "log_wandb_project",
        "checkpoint_every",
        "keep_checkpoints",
        "max_bad_steps",
        "device",
        "output_dir",
        "data.workers",
        "data.cache",
        "data.cache_dir",
        "data.cache_memory_mb",
        "data.preload",  # data.cache's former name, in checkpoints written before it
    }
)


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_same_recipe(path: Path, stored_config: str, config: TrainConfig) -> None:
    """Refuse a checkpoint (at `path`, trained with the JSON `stored_config`) of another
    recipe (architecture, losses, data, schedule): resuming it would train something that
    no config describes. RESUMABLE_CHANGES and the validation section may differ."""
    stored = _flat(json.loads(stored_config))
    current = _flat(json.loads(config.model_dump_json()))
    changed = sorted(
        key
        for key in stored.keys() | current.keys()
        if stored.get(key) != current.get(key)
        and key not in RESUMABLE_CHANGES
        and not key.startswith("validation.")
    )
    if changed:
        listed = ", ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in changed[:6])
        raise ConfigError(
            f"{path}: was trained with other settings ({listed}"
            + (f", and {len(changed) - 6} more" if len(changed) > 6 else "")
            + "); resume with the run's own config, or start a new run (another name) with"
            " model.init_from to reuse its weights"
        )


def restore(run: Run, path: Path) -> None:
    """Restore every state of `run` from the training checkpoint at `path`, once it is
    known to be of the run's recipe (`check_same_recipe`)."""
    state = load_checkpoint(path)
    check_same_recipe(path, state["config"], run.config)
    unwrap(run.generator).load_state_dict(state["generator"])
    run.opt_g.load_state_dict(state["opt_g"])  # learning rates follow the iteration
    if run.discriminator is not None:
        unwrap(run.discriminator).load_state_dict(state["discriminator"])
        run.opt_d.load_state_dict(state["opt_d"])
    if run.ema is not None:
        run.ema.module.load_state_dict(state["generator_ema"])
        run.ema.n_averaged.fill_(state["ema_updates"])
    run.scaler.load_state_dict(state["scaler"])
    rank = run.ddp.rank
    restore_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
    run.iteration, run.best = state["iteration"], state.get("best")
    run.say(f"resumed from {path} at iteration {run.iteration}")


def record_if_best(run: Run, scores: dict[str, float]) -> bool:
    """Whether `scores` beat the run's best validation on validation.best_metric (higher
    PSNR, lower LPIPS); a new best is recorded in `run.best` with its iteration."""
    key = run.config.validation.best_metric
    best = run.best
    better = best is None or (scores[key] > best[key] if key == "psnr" else scores[key] < best[key])
    if better:
        run.best = {**scores, "iteration": run.iteration}
    return better
