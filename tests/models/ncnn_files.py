"""ncnn files written by the tests: an SRVGGNetCompact as ncnn exports it (no ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rwsr.models.compact import SRVGGNetCompact
from rwsr.models.ncnn import TAG_FP16


def write_compact_ncnn(
    model: SRVGGNetCompact, param: Path, weights: Path, *, fp16: bool = True
) -> None:
    """`model` as ncnn writes an SRVGGNetCompact export: a .param layer list (convolutions
    and PReLUs, pixel shuffle, nearest Interp of the input, BinaryOp add) and its .bin."""
    scale = model.config.scale
    lines = [
        "Input data 0 1 data",
        "Split split0 1 2 data input_0 input_1",
    ]
    blob, data = "input_1", bytearray()
    for index, layer in enumerate(model.body):
        out = f"b{index}"
        if isinstance(layer, torch.nn.Conv2d):
            size = layer.weight.numel()
            lines.append(
                f"Convolution conv{index} 1 1 {blob} {out}"
                f" 0={layer.out_channels} 1=3 4=1 5=1 6={size}"
            )
            tag, kind = (TAG_FP16, np.float16) if fp16 else (0, np.float32)
            data += np.uint32(tag).tobytes()
            data += layer.weight.detach().numpy().astype(kind).tobytes()
            data += b"\0" * (-len(data) % 4)
            data += layer.bias.detach().numpy().astype(np.float32).tobytes()
        else:
            lines.append(f"PReLU prelu{index} 1 1 {blob} {out} 0={layer.weight.numel()}")
            data += layer.weight.detach().numpy().astype(np.float32).tobytes()
        blob = out
    lines += [
        f"PixelShuffle shuffle 1 1 {blob} shuffled 0={scale}",
        f"Interp upsample 1 1 input_0 upsampled 0=1 1={scale:.6e} 2={scale:.6e}",
        "BinaryOp add 2 1 shuffled upsampled output 0=0",
    ]
    blobs = {name for line in lines for name in line.split()[4:] if "=" not in name}
    param.write_text("\n".join(["7767517", f"{len(lines)} {len(blobs)}", *lines]) + "\n")
    weights.write_bytes(bytes(data))
