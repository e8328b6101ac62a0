"""The key layouts of foreign RRDB / RWSR-EDL checkpoints, renamed to rwsr's parameter names.

Recognised by their key sets (LAYOUTS, tried in order):
- rwsr / BasicSR / Real-ESRGAN: conv_first, body.N.rdbK.convJ, conv_body, conv_up1/2, conv_hr,
  conv_last (Real-ESRGAN x2/x1: conv_first has 12/48 input channels, pixel-unshuffle input);
  RWSR-EDL adds `rrdb.` / `head.` prefixes.
- Real-SR / official RWSR-EDL code: RRDB_trunk.N.RDBK.convJ, trunk_conv, upconv1/2, HRconv,
  plus branch1/branch2/sm/tail_conv1/tail_conv2 for the official head.
- old ESRGAN: model.0, model.1.sub.N.RDBK.convJ.0, model.1.sub.NB (trunk conv), model.3/6/8/10.
- Real-ESRGAN Compact (SRVGGNetCompact): body.N only, convolutions and PReLUs alternating;
  rwsr's own names are the same (rwsr.models.compact).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import torch

from rwsr.errors import CheckpointError
from rwsr.models.shapes import count_indices, is_compact


class UnknownLayoutError(CheckpointError):
    """No layout of LAYOUTS matches the keys (spandrel may still know them)."""


def _rename(
    state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]]
) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


_HEAD_KEY = re.compile(r"^(branch_x|branch_y|branch_m|branch1|branch2|sm|tail_conv1|tail_conv2)\.")


def _with_head_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Top-level head keys -> head.*, and then the trunk under rrdb.*."""
    if not any(_HEAD_KEY.match(key) for key in state):
        return state
    return {(f"head.{k}" if _HEAD_KEY.match(k) else f"rrdb.{k}"): v for k, v in state.items()}


def _from_native(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    # conv_first/conv_last alone also name SwinIR, HAT and others: the RRDB trunk decides.
    if "body.0.rdb1.conv1.weight" in state or "rrdb.body.0.rdb1.conv1.weight" in state:
        return _with_head_prefixes(state)
    return None


def _from_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    if not any(key.startswith("RRDB_trunk.") for key in state):
        return None
    renamed = _rename(
        state,
        [
            (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
            (r"^trunk_conv\.", "conv_body."),
            (r"^upconv(\d)\.", r"conv_up\1."),
            (r"^HRconv\.", "conv_hr."),
        ],
    )
    return _with_head_prefixes(renamed)


def _from_old_esrgan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    if "model.0.weight" not in state or not any(k.startswith("model.1.sub.") for k in state):
        return None
    nb = count_indices(state, r"^model\.1\.sub\.(\d+)\.RDB")
    # After the trunk: per up-sampling stage (upsample, conv, lrelu), then HRconv, lrelu, last.
    tail = sorted(
        {int(m.group(1)) for k in state if (m := re.match(r"^model\.(\d+)\.", k))} - {0, 1}
    )
    names = [f"conv_up{i}" for i in range(1, len(tail) - 1)] + ["conv_hr", "conv_last"]
    rules = [
        (r"^model\.0\.", "conv_first."),
        (r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
        (rf"^model\.1\.sub\.{nb}\.", "conv_body."),
    ] + [(rf"^model\.{index}\.", f"{name}.") for index, name in zip(tail, names)]
    return _rename(state, rules)


def _from_compact(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    return state if is_compact(state) else None


# (name, what it is, converter to rwsr names or None when the keys don't match), tried in
# order: the official layout shares conv_first/conv_last with BasicSR, so it goes first.
LAYOUTS: tuple[tuple[str, str, Callable[[dict], dict | None]], ...] = (
    (
        "official",
        "Real-SR / official RWSR-EDL code (RRDB_trunk, trunk_conv, HRconv)",
        _from_official,
    ),
    ("esrgan-old", "original ESRGAN (model.0, model.1.sub.N.RDB1...)", _from_old_esrgan),
    (
        "basicsr",
        "rwsr / BasicSR / Real-ESRGAN (conv_first, body, conv_body, conv_up, conv_hr)",
        _from_native,
    ),
    (
        "compact",
        "Real-ESRGAN Compact / SRVGGNetCompact (body.N: convolutions and PReLUs)",
        _from_compact,
    ),
)


def convert_to_native(
    state: dict[str, torch.Tensor], path: str | os.PathLike[str] = "<state>"
) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout name, state with rwsr parameter names) for any recognised layout; block numbers
    with a gap (rwsr.models.shapes.count_indices) are a CheckpointError naming the file."""
    for name, _, convert in LAYOUTS:
        try:
            native = convert(state)
        except ValueError as error:
            raise CheckpointError(f"{path}: {error}") from None
        if native is not None:
            return name, native
    sample = ", ".join(sorted(state)[:6]) or "(no tensors)"
    known = "; ".join(description for _, description, _ in LAYOUTS)
    raise UnknownLayoutError(
        f"{path}: not a recognised super-resolution checkpoint (first keys: {sample}). Known layouts: {known}"
    )
