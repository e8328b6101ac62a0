"""Training logs: JSON Lines always, TensorBoard when installed, and a PNG of the curves
(losses, validation PSNR/LPIPS against iteration, like the paper's Fig. 3).

Every line is standard JSON, which has no NaN or Infinity: such a value (an infinite PSNR of
identical images) is written as null."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rwsr.atomic import write_bytes_atomic
from rwsr.errors import InputError


class RunLog:
    """Appends one JSON object per record to run_dir/log.jsonl (and mirrors scalars to
    TensorBoard if the `tensorboard` package is importable)."""

    def __init__(self, run_dir: Path, *, start_iteration: int = 0) -> None:
        """Records after `start_iteration` (written by a run that was stopped after its last
        checkpoint) are dropped, so a resumed run's curves have no duplicates."""
        self.path = run_dir / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_log(self.path) if r["iteration"] <= start_iteration]
        text = "".join(_line(r) for r in kept)
        write_bytes_atomic(self.path, text.encode("utf-8"), overwrite=True)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self._tensorboard = None
        else:
            self._tensorboard = SummaryWriter(
                str(run_dir / "tensorboard"), purge_step=start_iteration + 1
            )

    def write(self, kind: str, iteration: int, values: dict[str, Any]) -> None:
        record = {"kind": kind, "iteration": iteration, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(_line(record))
        if self._tensorboard is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(f"{kind}/{key}", value, iteration)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()


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
