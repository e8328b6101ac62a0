"""ncnn files written by the tests (no ../shared): an SRVGGNetCompact and an RRDBNet as ncnn
exports lay them out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rwsr.models.compact import SRVGGNetCompact
from rwsr.models.ncnn import TAG_FP16
from rwsr.models.rrdbnet import RRDBNet

# ncnn's Eltwise sum with coefficients 0.2 and 1: RRDBNet's residual "0.2 * y + x".
RESIDUAL = "0=1 -23301=2,2.000000e-01,1.000000e+00"
LRELU = "9=2 -23310=1,2.000000e-01"  # LeakyReLU 0.2 fused into the convolution


def _convolution_bytes(layer: torch.nn.Conv2d, fp16: bool) -> bytes:
    """A Convolution's .bin record: storage tag, weights (padded to 4 bytes), fp32 bias."""
    tag, kind = (TAG_FP16, np.float16) if fp16 else (0, np.float32)
    data = bytearray(np.uint32(tag).tobytes())
    data += layer.weight.detach().numpy().astype(kind).tobytes()
    data += b"\0" * (-len(data) % 4)
    data += layer.bias.detach().numpy().astype(np.float32).tobytes()
    return bytes(data)


def _write(lines: list[str], data: bytes, param: Path, weights: Path) -> None:
    blobs = {name for line in lines for name in line.split()[4:] if "=" not in name}
    param.write_text("\n".join(["7767517", f"{len(lines)} {len(blobs)}", *lines]) + "\n")
    weights.write_bytes(data)


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
            data += _convolution_bytes(layer, fp16)
        else:
            lines.append(f"PReLU prelu{index} 1 1 {blob} {out} 0={layer.weight.numel()}")
            data += layer.weight.detach().numpy().astype(np.float32).tobytes()
        blob = out
    lines += [
        f"PixelShuffle shuffle 1 1 {blob} shuffled 0={scale}",
        f"Interp upsample 1 1 input_0 upsampled 0=1 1={scale:.6e} 2={scale:.6e}",
        "BinaryOp add 2 1 shuffled upsampled output 0=0",
    ]
    _write(lines, bytes(data), param, weights)


def write_rrdbnet_ncnn(model: RRDBNet, param: Path, weights: Path) -> None:
    """`model` as the realsr-ncnn-vulkan and Real-ESRGAN ncnn exports lay out an RRDBNet
    (convolutions with fused LeakyReLU, Concat for the dense connections, Eltwise for the
    0.2-scaled residuals, BinaryOp for the long skip, nearest Interp) with fp16 weights.
    Their Split layers, which only copy a blob that two layers read, are left out."""
    lines = ["Input data 0 1 data"]
    data = bytearray()

    def layer(kind: str, inputs: list[str], params: str = "") -> str:
        """Append one layer; returns the name of its output blob."""
        out = f"b{len(lines)}"
        line = f"{kind} {kind.lower()}{len(lines)} {len(inputs)} 1 {' '.join(inputs)} {out}"
        lines.append(f"{line} {params}".rstrip())
        return out

    def conv(module: torch.nn.Conv2d, source: str, activation: str = "") -> str:
        data.extend(_convolution_bytes(module, fp16=True))
        size = f"0={module.out_channels} 1=3 4=1 5=1 6={module.weight.numel()}"
        return layer("Convolution", [source], f"{size} {activation}")

    first = feat = conv(model.conv_first, "data")
    for rrdb in model.body:
        block_input = feat
        for rdb in (rrdb.rdb1, rrdb.rdb2, rrdb.rdb3):
            dense = [feat]
            for module in (rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4):
                source = dense[0] if len(dense) == 1 else layer("Concat", dense)
                dense.append(conv(module, source, LRELU))
            feat = layer("Eltwise", [conv(rdb.conv5, layer("Concat", dense)), feat], RESIDUAL)
        feat = layer("Eltwise", [feat, block_input], RESIDUAL)
    feat = layer("BinaryOp", [first, conv(model.conv_body, feat)], "0=0")
    for index, factor in enumerate(model.config.upsample_factors, start=1):
        upsampled = layer("Interp", [feat], f"0=1 1={factor:.6e} 2={factor:.6e}")
        feat = conv(getattr(model, f"conv_up{index}"), upsampled, LRELU)
    conv(model.conv_last, conv(model.conv_hr, feat, LRELU))
    _write(lines, bytes(data), param, weights)
