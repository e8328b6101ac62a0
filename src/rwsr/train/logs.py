"""Training logs: JSON Lines always, TensorBoard and Weights & Biases as the config chooses
(`log_tensorboard`, `log_wandb`), and a PNG of the curves (losses, validation PSNR/LPIPS
against iteration, like the paper's Fig. 3).

Every line is standard JSON, which has no NaN or Infinity: such a value (an infinite PSNR of
identical images) is written as null."""

from __future__ import annotations

import importlib
import json
import math
import secrets
from pathlib import Path
from typing import Any

from rwsr.atomic import write_bytes_atomic, write_text_atomic
from rwsr.errors import ConfigError, InputError
from rwsr.train.config import TrainConfig

# logger -> (config key, module imported, pip package)
LOGGER_PACKAGES = {
    "tensorboard": ("log_tensorboard", "torch.utils.tensorboard", "tensorboard"),
    "wandb": ("log_wandb", "wandb", "wandb"),
}


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def chosen_loggers(config: TrainConfig) -> tuple[str, ...]:
    """The loggers (LOGGER_PACKAGES) a run mirrors log.jsonl to: each one set true, and
    TensorBoard at "auto" when it is installed. One set true but not installed is a
    ConfigError naming its key and pip package, raised before set-up, so a run never learns
    at iteration 1 that it cannot be watched."""
    chosen = []
    for logger, (key, module, package) in LOGGER_PACKAGES.items():
        wanted = getattr(config, key)
        if wanted is False:
            continue
        if _importable(module):
            chosen.append(logger)
        elif wanted is True:
            raise ConfigError(
                f"{key}: true, but the {package} package is not installed; pip install"
                f" {package}, or set {key}=false"
            )
    return tuple(chosen)


class RunLog:
    """Appends one JSON object per record to run_dir/log.jsonl and mirrors its numbers to
    the `loggers` chosen (`chosen_loggers`)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        start_iteration: int = 0,
        loggers: tuple[str, ...] = (),
        wandb_project: str = "rwsr",
        run_config: dict[str, Any] | None = None,
    ) -> None:
        """Records after `start_iteration` (written by a run that was stopped after its last
        checkpoint) are dropped, so a resumed run's curves have no duplicates. W&B is given
        the run folder's name, `run_config`, and the run id kept in run_dir/wandb_run_id, so
        a resumed run continues the same W&B run."""
        self.path = run_dir / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_log(self.path) if r["iteration"] <= start_iteration]
        text = "".join(_line(r) for r in kept)
        write_bytes_atomic(self.path, text.encode("utf-8"), overwrite=True)
        self.outputs = [str(self.path)]
        self._tensorboard = self._wandb = None
        if "tensorboard" in loggers:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(
                str(run_dir / "tensorboard"), purge_step=start_iteration + 1
            )
            self.outputs.append(f"TensorBoard ({run_dir / 'tensorboard'})")
        if "wandb" in loggers:
            import wandb

            id_path = run_dir / "wandb_run_id"
            run_id = id_path.read_text().strip() if id_path.exists() else secrets.token_hex(4)
            write_text_atomic(id_path, run_id, overwrite=True)
            self._wandb = wandb.init(
                project=wandb_project,
                name=run_dir.name,
                id=run_id,
                resume="allow",
                dir=str(run_dir),
                config=run_config,
            )
            self.outputs.append(f"W&B (project {wandb_project}, run {run_id})")

    def write(self, kind: str, iteration: int, values: dict[str, Any]) -> None:
        record = {"kind": kind, "iteration": iteration, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(_line(record))
        numbers = {
            f"{kind}/{key}": value
            for key, value in values.items()
            if isinstance(value, (int, float))
        }
        if self._tensorboard is not None:
            for tag, value in numbers.items():
                self._tensorboard.add_scalar(tag, value, iteration)
        if self._wandb is not None:
            self._wandb.log(numbers, step=iteration)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.finish()


def _line(record: dict[str, Any]) -> str:
    """One record as a line of standard JSON (NaN and infinities become null)."""
    finite = {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in record.items()
    }
    return json.dumps(finite, allow_nan=False) + "\n"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a log (none if there is no log); a last line cut short by a kill is
    left out (earlier lines are whole: each record is one append). A log that cannot be read
    or continued is an InputError naming it, so a resumed run stops before its set-up."""
    if not path.exists() and not path.is_symlink():
        return []
    if not path.is_file():
        raise InputError(f"{path}: the run's log is not a file; move it away to continue the run")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the run's log is not UTF-8 text (JSON lines)") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the run's log ({error.strerror})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                break
            raise InputError(f"{path}: line {number} is not a JSON record") from None
        if not (
            isinstance(record, dict)
            and isinstance(record.get("kind"), str)
            and isinstance(record.get("iteration"), int)
        ):
            raise InputError(f"{path}: line {number} is not a log record (kind, iteration)")
        records.append(record)
    return records


def plot_curves(log_path: Path, out_path: Path) -> None:
    """Training losses and validation metrics against iteration, as one PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    figure, axes = plt.subplots(1, 3 if val else 1, figsize=(15 if val else 6, 4), squeeze=False)
    loss_axis = axes[0][0]
    for key in ("pix", "per", "adv", "d"):
        points = [(r["iteration"], r[key]) for r in train if r.get(key) is not None]
        if points:
            loss_axis.plot(*zip(*points), label=f"L_{key}")
    loss_axis.set(
        xlabel="iteration", ylabel="loss (unweighted)", yscale="log", title="training losses"
    )
    if loss_axis.lines:  # none before the first log interval (a validation can come first)
        loss_axis.legend()
    for axis, key, label in ((1, "psnr", "PSNR (dB, RGB)"), (2, "lpips", "LPIPS")):
        points = [(r["iteration"], r[key]) for r in val if r.get(key) is not None]
        if val and points:
            axes[0][axis].plot(*zip(*points), marker="o")
            axes[0][axis].set(xlabel="iteration", ylabel=label, title=f"validation {label}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(out_path, buffer.getvalue(), overwrite=True)
