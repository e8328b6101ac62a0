"""The key formats of foreign RRDB / RWSR-EDL / Real-ESRGAN Compact checkpoints: the parameter
names each family of code writes, and their renaming to rwsr's.

Detection is data, as spandrel's: each format lists the keys every file of it holds (the
smallest network's: numbered blocks from block 0, the convolutions every scale has), and a
file is of the format whose required keys are all present. A file that matches none is an
UnknownKeyFormatError naming the nearest format and the keys it lacks, and goes on to spandrel
(rwsr.models.foreign), which knows other architectures.

- official: Real-SR / BSRGAN / the official RWSR-EDL code: RRDB_trunk.N.RDBK.convJ,
  trunk_conv, upconv1/2, HRconv, plus branch1/branch2/sm/tail_conv1/tail_conv2 for the
  official head.
- esrgan-old: the original ESRGAN: model.0, model.1.sub.N.RDBK.convJ.0, model.1.sub.NB (trunk
  conv), model.3/6/8/10 (which numbers depend on the scale).
- basicsr: rwsr / BasicSR / Real-ESRGAN: conv_first, body.N.rdbK.convJ, conv_body,
  conv_up1/2, conv_hr, conv_last (Real-ESRGAN x2/x1: conv_first has 12/48 input channels,
  pixel-unshuffle input); a head beside the trunk is moved under head.*.
- rwsr-edl: rwsr's RWSR-EDL names without rwsr metadata: the basicsr trunk under rrdb.*,
  the head under head.*.
- compact: Real-ESRGAN Compact (SRVGGNetCompact): body.N only, convolutions and PReLUs
  alternating; rwsr's own names are the same (rwsr.models.compact).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from rwsr.errors import CheckpointError
from rwsr.models.shapes import count_indices, is_compact

# Missing keys an error names, at most.
SHOWN_KEYS = 4


@dataclass(frozen=True)
class KeyFormat:
    """One family of parameter names: the keys every file of it holds, and their renaming.

    `only` (None: any other keys too) is a pattern every key must match in full, for a
    format whose names are generic (Compact's `body.N`). `to_native` renames a state of the
    format to rwsr's names; a ValueError from it (e.g. a gap in the block numbers) means a
    broken file of the format.
    """

    name: str
    description: str
    required: frozenset[str]
    to_native: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    only: re.Pattern[str] | None = None

    def missing(self, keys: Mapping[str, object]) -> list[str]:
        """The required keys absent from `keys`, sorted."""
        return sorted(self.required - keys.keys())

    def foreign(self, keys: Mapping[str, object]) -> list[str]:
        """The keys outside the format (only for a format with `only`), sorted."""
        if self.only is None:
            return []
        return sorted(key for key in keys if not self.only.fullmatch(key))

    def matches(self, keys: Mapping[str, object]) -> bool:
        return not self.missing(keys) and not self.foreign(keys)


class UnknownKeyFormatError(CheckpointError):
    """No format of KEY_FORMATS matches the keys (spandrel may still know them)."""


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


def _from_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def _from_old_esrgan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def _from_compact(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not is_compact(state):
        raise ValueError(
            "SRVGGNetCompact keys (body.N only), but body.0 is not a convolution followed by"
            " a PReLU (body.1)"
        )
    return state


def _trunk(prefix: str = "") -> frozenset[str]:
    """The keys every rwsr / BasicSR RRDBNet has (1 block, x1), under `prefix`: the first and
    last convolution of block 0 stand for its 15."""
    names = ("conv_first", "body.0.rdb1.conv1", "body.0.rdb3.conv5", "conv_body", "conv_hr")
    return frozenset(f"{prefix}{name}.weight" for name in (*names, "conv_last"))


# Tried in order, the first match wins (no known file holds the required keys of two).
KEY_FORMATS: tuple[KeyFormat, ...] = (
    KeyFormat(
        name="official",
        description="Real-SR / official RWSR-EDL code: RRDB_trunk, trunk_conv, HRconv",
        # Real-SR's RRDBNet (also BSRGAN's); the official RWSR-EDL head sits beside it.
        required=frozenset(
            {
                "conv_first.weight",
                "RRDB_trunk.0.RDB1.conv1.weight",
                "RRDB_trunk.0.RDB3.conv5.weight",
                "trunk_conv.weight",
                "HRconv.weight",
                "conv_last.weight",
            }
        ),
        to_native=_from_official,
    ),
    KeyFormat(
        name="esrgan-old",
        description="original ESRGAN: model.0, model.1.sub.N.RDB1...",
        # The trunk conv (model.1.sub.NB) and the tail's numbers depend on the block count
        # and the scale: the converter finds them.
        required=frozenset(
            {
                "model.0.weight",
                "model.1.sub.0.RDB1.conv1.0.weight",
                "model.1.sub.0.RDB3.conv5.0.weight",
            }
        ),
        to_native=_from_old_esrgan,
    ),
    KeyFormat(
        name="basicsr",
        description="rwsr / BasicSR / Real-ESRGAN: conv_first, body, conv_body, conv_up, conv_hr",
        # conv_first/conv_last alone also name SwinIR, HAT and others: the RRDB trunk decides.
        required=_trunk(),
        to_native=_with_head_prefixes,
    ),
    KeyFormat(
        name="rwsr-edl",
        description="rwsr's RWSR-EDL without rwsr metadata: rrdb.conv_first, ..., head.*",
        # The head's keys depend on its variant: rwsr.models.shapes.infer_config reads them.
        required=_trunk("rrdb."),
        to_native=_with_head_prefixes,
    ),
    KeyFormat(
        name="compact",
        description="Real-ESRGAN Compact / SRVGGNetCompact: body.N, convolutions and PReLUs",
        # A convolution and its PReLU; the rest of the stack (a gap in it, the last conv)
        # is the converter's and rwsr.models.shapes' to check.
        required=frozenset({"body.0.weight", "body.1.weight"}),
        to_native=_from_compact,
        only=re.compile(r"body\.\d+\.(weight|bias)"),
    ),
)


def detect_key_format(
    state: Mapping[str, object], path: str | os.PathLike[str] = "<state>"
) -> KeyFormat:
    """The format of KEY_FORMATS whose required keys `state` holds all of; otherwise an
    UnknownKeyFormatError naming the nearest format (the most of its required keys present)
    and the keys it lacks."""
    for key_format in KEY_FORMATS:
        if key_format.matches(state):
            return key_format
    sample = ", ".join(sorted(state)[:6]) or "(no tensors)"
    message = f"{path}: not a recognised super-resolution checkpoint (first keys: {sample})."
    nearest = max(KEY_FORMATS, key=lambda f: len(f.required & state.keys()) / len(f.required))
    if not nearest.required & state.keys():
        known = "; ".join(f"{f.name} ({f.description})" for f in KEY_FORMATS)
        raise UnknownKeyFormatError(f"{message} Known key formats: {known}")
    missing, foreign = nearest.missing(state), nearest.foreign(state)
    lacks = f"lacks {_first(missing)}" if missing else f"has keys outside it: {_first(foreign)}"
    raise UnknownKeyFormatError(
        f"{message} Nearest key format: {nearest.name} ({nearest.description}), but the file"
        f" {lacks}. Known key formats: {', '.join(f.name for f in KEY_FORMATS)}"
    )


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    return shown + (f" (and {len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else "")


def convert_to_native(
    state: dict[str, torch.Tensor], path: str | os.PathLike[str] = "<state>"
) -> tuple[str, dict[str, torch.Tensor]]:
    """(key format name, state with rwsr parameter names) for a state of any format of
    KEY_FORMATS; block numbers with a gap (rwsr.models.shapes.count_indices) are a
    CheckpointError naming the file."""
    key_format = detect_key_format(state, path)
    try:
        return key_format.name, key_format.to_native(state)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
