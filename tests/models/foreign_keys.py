"""State dicts under the key names foreign code writes (tests/models/test_checkpoint.py,
test_key_formats.py): rwsr's names renamed by rules written here, apart from the loader's."""

from __future__ import annotations

import re

import torch


def rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> dict:
    out = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def official(state: dict[str, torch.Tensor]) -> dict:
    """rwsr names -> the authors' code (Real-SR) names."""
    return rename(
        state,
        [
            (r"^rrdb\.", ""),
            (r"^head\.", ""),
            (r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."),
            (r"^conv_body\.", "trunk_conv."),
            (r"^conv_up(\d)\.", r"upconv\1."),
            (r"^conv_hr\.", "HRconv."),
        ],
    )


def old_esrgan(state: dict[str, torch.Tensor], *, nb: int, stages: int) -> dict:
    """rwsr names of an RRDBNet with `nb` blocks and `stages` up-sampling convs -> the original
    ESRGAN's (model.N, model.1.sub.N.RDBK.convJ.0)."""
    hr = 2 + 3 * stages
    return rename(
        state,
        [
            (r"^conv_first\.", "model.0."),
            (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0."),
            (r"^conv_body\.", f"model.1.sub.{nb}."),
            (r"^conv_up1\.", "model.3."),
            (r"^conv_up2\.", "model.6."),
            (r"^conv_hr\.", f"model.{hr}."),
            (r"^conv_last\.", f"model.{hr + 2}."),
        ],
    )
