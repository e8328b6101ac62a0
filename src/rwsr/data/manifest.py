"""Which run an output folder belongs to, so that a rerun resumes it instead of mixing runs.

`rwsr pairs` and `rwsr ngdc` record their command and settings in OUT/.rwsr-run.json. A rerun
with the same settings resumes (finished pairs are skipped, derived files are recomputed); a
rerun with other settings, or a folder holding other files, is refused unless --overwrite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from rwsr.atomic import write_text_atomic
from rwsr.errors import ConfigError, InputError

MANIFEST_FILE = ".rwsr-run.json"


def claim_output(
    out_dir: Path, *, command: str, settings: Mapping[str, object], overwrite: bool
) -> bool:
    """Make `out_dir` ours; True when it resumes an earlier run with the same settings."""
    record = {"command": command, "settings": json.loads(json.dumps(dict(settings), default=str))}
    manifest = out_dir / MANIFEST_FILE
    if manifest.exists():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"{manifest}: unreadable run record ({error})") from None
        if previous == record:
            return True
        if not overwrite:
            changed = _differences(previous, record)
            raise ConfigError(
                f"{out_dir}: made by an earlier `rwsr {previous.get('command')}` run with other "
                f"settings ({changed}); pass --overwrite to start over or choose another folder"
            )
    elif out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{out_dir}: holds files that no `rwsr {command}` run made; choose a new or empty "
            "folder, or pass --overwrite"
        )
    write_text_atomic(manifest, json.dumps(record, indent=1) + "\n", overwrite=True)
    return False


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
