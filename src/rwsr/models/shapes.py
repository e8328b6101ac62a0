"""Model sizes from tensor shapes: the config of an RRDB / RWSR-EDL / SRVGGNetCompact state
dict, and the check that a config's model has a file's shapes (on the meta device, before
anything is built)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

import torch

from rwsr.errors import CheckpointError
from rwsr.models.catalog import ModelConfig, build_model
from rwsr.models.compact import CompactConfig
from rwsr.models.edl import EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNetConfig


def count_indices(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    """How many numbered blocks the keys hold; the numbers must run 0, 1, ..., n-1 (a crafted
    `body.99999999.` key would otherwise ask for a hundred million blocks). Only ranges as
    long as the key list are built: n numbers that are not 0..n-1 miss one below n."""
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    expected = set(range(len(found)))
    if found != expected:
        missing = min(expected - found)
        raise ValueError(
            f"block numbers of {pattern} are not 0..{len(found) - 1}: block {missing} is missing"
        )
    return len(found)


def infer_config(
    state: dict[str, torch.Tensor],
    *,
    scale: int | None = None,
    path: str | os.PathLike[str] = "<state>",
) -> ModelConfig:
    """Read an RRDBNet/RWSR-EDL config from tensor shapes of a native-named state dict.

    One up-sampling stage means x2 unless `scale=3` says otherwise (the shapes are identical).
    """
    if is_compact(state):
        return infer_compact_config(state, scale=scale, path=path)
    prefix = "rrdb." if "rrdb.conv_first.weight" in state else ""
    try:
        first = state[f"{prefix}conv_first.weight"]
        last = state[f"{prefix}conv_last.weight"]
        gc = state[f"{prefix}body.0.rdb1.conv1.weight"].shape[0]
    except KeyError as missing:
        raise CheckpointError(f"{path}: RRDBNet weights incomplete, {missing} is missing") from None
    out_channels = last.shape[0]
    ratio = first.shape[1] // out_channels
    unshuffle = {1: 1, 4: 2, 16: 4}.get(ratio) if first.shape[1] % out_channels == 0 else None
    if unshuffle is None:
        raise CheckpointError(
            f"{path}: conv_first has {first.shape[1]} input channels for {out_channels} output channels;"
            " expected 1x, 4x or 16x (pixel-unshuffle 1, 2 or 4)"
        )
    stages = sum(1 for k in state if re.fullmatch(rf"{re.escape(prefix)}conv_up\d\.weight", k))
    total = {0: 1, 1: 3 if scale == 3 else 2, 2: 4}.get(stages)
    if total is None:
        raise CheckpointError(f"{path}: {stages} up-sampling convs; rwsr supports 0, 1 or 2")
    rrdb = RRDBNetConfig(
        scale=total // unshuffle,
        in_channels=out_channels,
        out_channels=out_channels,
        nf=first.shape[0],
        nb=count_indices(state, rf"^{re.escape(prefix)}body\.(\d+)\."),
        gc=gc,
        input_unshuffle=unshuffle,
    )
    if scale is not None and scale != rrdb.scale:
        raise CheckpointError(
            f"{path}: the weights are a x{rrdb.scale} network, but x{scale} was requested"
        )
    if not prefix:
        return rrdb
    if "head.branch_x.0.conv1.weight" in state:
        two = "head.branch_y.0.conv1.weight" in state
        head = EDLHeadConfig(
            variant="paper",
            nf=state["head.branch_x.0.conv1.weight"].shape[0],
            blocks=count_indices(state, r"^head\.branch_x\.(\d+)\."),
            branches=2 if two else 1,
            mask="learned" if "head.branch_m.0.conv1.weight" in state or not two else "fixed",
        )
    elif "head.branch1.0.conv.weight" in state:
        head = EDLHeadConfig(
            variant="official",
            nf=state["head.branch1.0.conv.weight"].shape[0],
            blocks=count_indices(state, r"^head\.branch1\.(\d+)\."),
        )
    else:
        raise CheckpointError(f"{path}: has an RWSR-EDL trunk but no recognisable head weights")
    return RWSREDLConfig(rrdb=rrdb, head=head)


def check_shapes(config: ModelConfig, state: Mapping[str, torch.Tensor], path: object) -> None:
    """The model `config` describes must have the file's tensors, shape for shape: checked on
    the meta device (no memory), before anything is built for real."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    wrong = [
        f"{key} {tuple(state[key].shape)} (the config needs {shape})"
        for key, shape in expected.items()
        if key in state and tuple(state[key].shape) != shape
    ]
    if wrong:
        raise CheckpointError(
            f"{path}: shape mismatch with the model config in {len(wrong)} tensors:"
            f" {', '.join(wrong[:3])}"
        )


_COMPACT_KEY = re.compile(r"body\.\d+\.(weight|bias)")


def is_compact(state: Mapping[str, torch.Tensor]) -> bool:
    """Real-ESRGAN's SRVGGNetCompact keys: only `body.N.weight/bias`, a convolution first and
    a PReLU (one slope per channel) second."""
    return (
        all(_COMPACT_KEY.fullmatch(key) for key in state)
        and "body.0.weight" in state
        and state["body.0.weight"].ndim == 4
        and "body.1.weight" in state
        and state["body.1.weight"].ndim == 1
    )


def infer_compact_config(
    state: Mapping[str, torch.Tensor],
    *,
    scale: int | None = None,
    path: str | os.PathLike[str] = "<state>",
) -> CompactConfig:
    """SRVGGNetCompact sizes from its `body.N` shapes: convolutions at even N, PReLUs at odd
    N; the last convolution has in_channels * scale^2 outputs (pixel shuffle)."""
    layers = count_indices(state, r"^body\.(\d+)\.")
    num_conv, odd = divmod(layers - 3, 2)
    if num_conv < 0 or odd:
        raise CheckpointError(
            f"{path}: {layers} body layers; SRVGGNetCompact has 2 * num_conv + 3"
            " (conv, PReLU, ..., conv)"
        )
    last_key = f"body.{layers - 1}.weight"
    if last_key not in state:
        raise CheckpointError(f"{path}: SRVGGNetCompact weights incomplete, {last_key} is missing")
    first, last = state["body.0.weight"], state[last_key]
    channels = first.shape[1]
    found = math.isqrt(last.shape[0] // max(channels, 1))
    if found**2 * channels != last.shape[0] or found not in (1, 2, 3, 4):
        raise CheckpointError(
            f"{path}: the last convolution has {last.shape[0]} outputs for {channels} input"
            " channels; expected channels * scale^2 with scale 1, 2, 3 or 4"
        )
    if scale is not None and scale != found:
        raise CheckpointError(
            f"{path}: the weights are a x{found} Real-ESRGAN Compact network, but x{scale} was"
            " requested"
        )
    return CompactConfig(
        scale=found,
        in_channels=channels,
        out_channels=channels,
        nf=first.shape[0],
        num_conv=num_conv,
    )
