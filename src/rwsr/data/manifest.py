"""Which run an output folder belongs to, so that a rerun resumes it instead of mixing runs.

`rwsr pairs` and `rwsr ngdc` record their command and settings in OUT/.rwsr-run.json. A rerun
with the same settings resumes (finished pairs are skipped, derived files are recomputed); a
rerun with other settings, or a folder holding other files, is refused unless --overwrite.

--overwrite starts over: before any new work, `clear_earlier_run` removes what an earlier run
wrote in the places the command owns (OUT/HR, OUT/LR, OUT/bank, OUT/report.*, BANK/png, ...),
so that no file of the old run is left for later readers to mistake for part of the new one.
Nothing outside those places is touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rwsr.atomic import write_text_atomic
from rwsr.errors import ConfigError, InputError

MANIFEST_FILE = ".rwsr-run.json"

REPORT_FILES = ("report.json", "report.md", "report.png")
PAIR_FOLDERS = ("HR", "LR")
BANK_FILES = ("patches.npy", "index.json", "png", *REPORT_FILES)  # a `noise collect` folder
PAIRS_OUTPUT = PAIR_FOLDERS  # what `rwsr pairs` writes in OUT
NGDC_OUTPUT = (*PAIR_FOLDERS, "bank", *REPORT_FILES)  # what `rwsr ngdc` writes in OUT


def claim_output(
    out_dir: Path,
    *,
    command: str,
    settings: Mapping[str, object],
    overwrite: bool,
    owned: Sequence[str] = (),
    inputs: Iterable[Path] = (),
) -> bool:
    """Make `out_dir` ours; True when it resumes an earlier run with the same settings.

    `owned` names the files and folders (relative to `out_dir`) the command writes; with
    `overwrite` they are cleared first (`clear_earlier_run`) and the run starts over. An input
    folder among them (or `out_dir` itself) is refused, since its files would be replaced.
    """
    check_inputs_outside(out_dir, owned=owned, inputs=inputs)
    record = {"command": command, "settings": json.loads(json.dumps(dict(settings), default=str))}
    manifest = out_dir / MANIFEST_FILE
    if manifest.exists() and not overwrite:
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"{manifest}: unreadable run record ({error})") from None
        if previous == record:
            return True
        changed = _differences(previous, record)
        raise ConfigError(
            f"{out_dir}: made by an earlier `rwsr {previous.get('command')}` run with other "
            f"settings ({changed}); pass --overwrite to start over or choose another folder"
        )
    if not manifest.exists() and out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{out_dir}: holds files that no `rwsr {command}` run made; choose a new or empty "
            "folder, or pass --overwrite"
        )
    if overwrite:
        # The old record goes first: a crash while clearing leaves a folder that is refused
        # (not resumed as if it were complete), and the new record marks the fresh start.
        manifest.unlink(missing_ok=True)
        clear_earlier_run(out_dir, owned)
    write_text_atomic(manifest, json.dumps(record, indent=1) + "\n", overwrite=True)
    return False


def clear_earlier_run(out_dir: Path, owned: Sequence[str]) -> list[Path]:
    """Remove the files an earlier run wrote at the `owned` places of `out_dir`; returns them.

    A folder among `owned` is emptied (everything in it was written by rwsr) and removed; a
    symbolic link is removed itself, never followed. Other files of `out_dir` stay.
    """
    removed: list[Path] = []
    for name in owned:
        path = out_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
            removed.append(path)
        elif path.is_dir():
            removed += _remove_tree(path)
    return removed


def _remove_tree(folder: Path) -> list[Path]:
    removed: list[Path] = []
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            removed += _remove_tree(path)
        else:
            path.unlink()
            removed.append(path)
    folder.rmdir()
    return removed


def check_inputs_outside(out_dir: Path, *, owned: Sequence[str], inputs: Iterable[Path]) -> None:
    """Refuse an input folder that is `out_dir` or lies in a folder the run writes."""
    out = out_dir.resolve()
    places = [out / name for name in owned]
    for folder in inputs:
        where = Path(folder).resolve()
        if where == out or any(where == p or p in where.parents for p in places):
            raise ConfigError(
                f"{folder}: input images lie in the output folder {out_dir}, where this run "
                "writes its files; choose another output folder"
            )


def _differences(previous: Mapping[str, object], current: Mapping[str, object]) -> str:
    if previous.get("command") != current.get("command"):
        return f"command {previous.get('command')} != {current.get('command')}"
    old = previous.get("settings") or {}
    new = current.get("settings") or {}
    assert isinstance(old, dict) and isinstance(new, dict)
    keys = sorted(set(old) | set(new))
    return ", ".join(
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)
    )
