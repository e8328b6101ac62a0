"""Which run an output folder belongs to, so that a rerun resumes it instead of mixing runs.

`rwsr pairs` and `rwsr ngdc` record their command, settings and the files they write
(OUT/HR/a.png, ..., OUT/bank) in OUT/.rwsr-run.json. A rerun with the same settings resumes
(finished pairs are skipped, derived files are recomputed); a rerun with other settings, or a
folder holding other files, is refused unless --overwrite.

--overwrite starts over: before any new work, `clear_earlier_run` removes what the earlier
run's record lists, so that no file of the old run is left for later readers to mistake for
part of the new one. Nothing else is touched, not even a user's file beside the pairs in
OUT/HR. An input inside the places a run writes or clears (a symbolic link into them
included) is refused before anything is removed.
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
BANK_FILES = ("patches.npy", "index.json", "png", *REPORT_FILES)  # a `noise collect` folder
NGDC_OUTPUT = ("bank", *REPORT_FILES)  # what `rwsr ngdc` writes in OUT besides its pairs


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

    `owned` lists what the command writes, relative to `out_dir`: files (HR/a.png) and folders
    only rwsr writes in (bank). The record keeps the list (a resumed run adds to it); with
    `overwrite` what the earlier record lists is removed first (`clear_earlier_run`) and the
    run starts over. `inputs` are the files and folders the run reads: one that is `out_dir`
    or lies in a place the run writes or clears is refused before anything is removed.
    """
    manifest = out_dir / MANIFEST_FILE
    previous = _read_record(manifest, strict=not overwrite) if manifest.exists() else None
    earlier = _listed(previous)
    check_inputs_outside(out_dir, owned=[*owned, *earlier], inputs=inputs)
    record = {"command": command, "settings": json.loads(json.dumps(dict(settings), default=str))}
    if previous is not None and not overwrite:
        run = {key: previous.get(key) for key in record}
        if run != record:
            raise ConfigError(
                f"{out_dir}: made by an earlier `rwsr {previous.get('command')}` run with other "
                f"settings ({_differences(run, record)}); pass --overwrite to start over or "
                "choose another folder"
            )
        owned = [*earlier, *owned]
    elif not manifest.exists() and out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{out_dir}: holds files that no `rwsr {command}` run made; choose a new or empty "
            "folder, or pass --overwrite"
        )
    if overwrite:
        # The old record goes first: a crash while clearing leaves a folder that is refused
        # (not resumed as if it were complete), and the new record marks the fresh start.
        manifest.unlink(missing_ok=True)
        clear_earlier_run(out_dir, earlier)
    # Written before any output, so that a run killed halfway has listed what it wrote.
    record["owned"] = sorted(set(owned))
    write_text_atomic(manifest, json.dumps(record, indent=1) + "\n", overwrite=True)
    return previous is not None and not overwrite


def _read_record(manifest: Path, *, strict: bool) -> dict[str, object] | None:
    """The run record; an unreadable one is an error, or None (nothing known) if not `strict`."""
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problem = str(error)
    else:
        if isinstance(record, dict):
            return record
        problem = "not a JSON object"
    if strict:
        raise InputError(f"{manifest}: unreadable run record ({problem})")
    return None


def _listed(record: Mapping[str, object] | None) -> list[str]:
    """What a record lists as written: names inside its folder only, so that a damaged or
    edited record never makes `clear_earlier_run` reach outside it. Records of rwsr versions
    that kept no list name nothing."""
    listed = (record or {}).get("owned", [])
    if not isinstance(listed, list):
        return []
    return [
        name
        for name in listed
        if isinstance(name, str)
        and name
        and not Path(name).is_absolute()
        and ".." not in Path(name).parts
    ]


def clear_earlier_run(out_dir: Path, owned: Sequence[str]) -> list[Path]:
    """Remove what an earlier run wrote: the `owned` files and folders of `out_dir`; returns
    the removed files.

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
    """Refuse an input that is `out_dir` or lies in a place the run writes or clears: the
    first folder (or file) of each `owned` name. Inputs are compared by their real paths, so
    a symbolic link to an output file is refused as the file itself would be."""
    out = Path(os.path.realpath(out_dir))
    places = {Path(os.path.realpath(out_dir / Path(name).parts[0])) for name in owned}
    for given in inputs:
        where = Path(os.path.realpath(given))
        if where == out or any(where == place or place in where.parents for place in places):
            raise ConfigError(
                f"{given}: input images lie in the output folder {out_dir}, where this run "
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
