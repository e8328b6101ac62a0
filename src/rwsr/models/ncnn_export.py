"""ncnn files (.param + .bin) of rwsr's generators, for Upscayl, realesrgan-ncnn-vulkan and
realsr-ncnn-vulkan.

Written here, not through pnnx (the PyTorch-to-ncnn converter): pnnx starts from
torch.jit.trace, deprecated in torch 2.14, and on the paper's 16.7M-parameter RRDBNet x4 its
converter grew past 20 GB of memory and was killed (small models it converted). The layers
rwsr's networks need are few, and every file is proved by the ncnn runtime itself before it
is kept (rwsr.models.export.export_ncnn).

The conventions of those programs: input blob `data`, output blob `output`, an RGB image in
[0, 1] (C x H x W), the output not clamped (as in their own model files). The layers are
those of Real-ESRGAN's own ncnn files, so an exported RRDBNet or SRVGGNetCompact reads back
with rwsr.models.ncnn. Convolution weights are fp16 by default (tag 0x01306B47, as theirs
are); biases and PReLU slopes fp32. A blob read by several layers goes through a Split, as
ncnn requires.

Pixel-unshuffle models (Real-ESRGAN's x2/x1 variants) must take any size, as those programs
cut tiles of any size: the graph mirrors r - 1 pixels onto the bottom and right (Padding,
reflect), Reorg (ncnn's pixel unshuffle) drops what fills no block, and the output is cropped
to scale x the input size. At multiples of r that is the network itself; elsewhere the
network on the mirror-padded image, cropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from torch import nn

from rwsr.errors import ConfigError
from rwsr.models.compact import SRVGGNetCompact
from rwsr.models.edl import RWSREDL, OfficialHead, PaperHead
from rwsr.models.ncnn import PARAM_MAGIC, TAG_FP16, TAG_FP32
from rwsr.models.rrdbnet import ResidualDenseBlock, RRDBNet

INPUT_BLOB = "data"
OUTPUT_BLOB = "output"


@dataclass
class _Layer:
    kind: str
    name: str
    inputs: list[str]
    params: str  # "key=value ..." as ncnn writes them


class _Graph:
    """Layers in execution order (each with one output blob, named as the layer) and the .bin
    bytes of their weights, in the same order."""

    def __init__(self, *, fp16: bool) -> None:
        self.fp16 = fp16
        self.layers: list[_Layer] = [_Layer("Input", INPUT_BLOB, [], "")]
        self.weights = bytearray()
        self._numbers: Counter[str] = Counter()

    def add(self, kind: str, inputs: list[str], params: str = "") -> str:
        name = f"{kind.lower()}_{self._numbers[kind]}"
        self._numbers[kind] += 1
        self.layers.append(_Layer(kind, name, list(inputs), params))
        return name

    def conv(self, blob: str, conv: nn.Conv2d, *, slope: float | None = None) -> str:
        """Convolution (rwsr's are square, stride 1, zero-padded to keep the size) with its
        activation fused as ncnn does: slope None none, 0 ReLU, else LeakyReLU(slope)."""
        weight = conv.weight.detach().float().cpu().numpy()
        params = (
            f"0={conv.out_channels} 1={conv.kernel_size[0]} 4={conv.padding[0]}"
            f" 5={int(conv.bias is not None)} 6={weight.size}"
        )
        if slope == 0:
            params += " 9=1"
        elif slope is not None:
            params += f" 9=2 -23310=1,{slope:e}"
        if self.fp16:
            self.weights += np.uint32(TAG_FP16).tobytes() + weight.astype(np.float16).tobytes()
            self.weights += b"\0" * (-len(self.weights) % 4)  # fp16 data is padded to 4 bytes
        else:
            self.weights += np.uint32(TAG_FP32).tobytes() + weight.astype(np.float32).tobytes()
        if conv.bias is not None:
            self.weights += conv.bias.detach().float().cpu().numpy().tobytes()
        return self.add("Convolution", [blob], params)

    def prelu(self, blob: str, prelu: nn.PReLU) -> str:
        slopes = prelu.weight.detach().float().cpu().numpy()
        self.weights += slopes.tobytes()
        return self.add("PReLU", [blob], f"0={slopes.size}")

    def weighted_sum(self, blobs: list[str], coefficients: list[float]) -> str:
        """sum(c * blob) (ncnn Eltwise SUM with coefficients)."""
        values = ",".join(f"{c:e}" for c in coefficients)
        return self.add("Eltwise", blobs, f"0=1 -23301={len(coefficients)},{values}")

    def add_blobs(self, a: str, b: str) -> str:
        return self.add("BinaryOp", [a, b], "0=0")

    def multiply(self, a: str, b: str) -> str:
        return self.add("BinaryOp", [a, b], "0=2")

    def one_minus(self, blob: str) -> str:
        return self.add("BinaryOp", [blob], "0=7 1=1 2=1.000000e+00")  # RSUB: 1 - blob

    def nearest(self, blob: str, factor: int) -> str:
        return self.add("Interp", [blob], f"0=1 1={factor:e} 2={factor:e}")

    def text(self, output: str) -> str:
        """The .param text: blob `output` renamed OUTPUT_BLOB, Splits after every blob that
        several layers read."""
        readers = Counter(blob for layer in self.layers for blob in layer.inputs)
        renamed = {output: OUTPUT_BLOB}
        copies: dict[str, list[str]] = {}
        lines: list[str] = []
        blobs = 0
        for layer in self.layers:
            inputs = [copies[b].pop() if b in copies else renamed.get(b, b) for b in layer.inputs]
            top = renamed.get(layer.name, layer.name)
            lines.append(
                f"{layer.kind:<16} {layer.name:<24} {len(inputs)} 1 {' '.join([*inputs, top])}"
                f" {layer.params}".rstrip()
            )
            blobs += 1
            if readers[layer.name] > 1:
                names = [f"{top}_splitncnn_{i}" for i in range(readers[layer.name])]
                copies[layer.name] = names[::-1]  # popped from the end: used in order
                lines.append(
                    f"{'Split':<16} {'splitncnn_' + top:<24} 1 {len(names)} {top} {' '.join(names)}"
                )
                blobs += len(names)
        return "\n".join([PARAM_MAGIC, f"{len(lines)} {blobs}", *lines]) + "\n"


def _dense_block(graph: _Graph, x: str, block: ResidualDenseBlock) -> str:
    features = [x]
    for conv in (block.conv1, block.conv2, block.conv3, block.conv4):
        joined = features[0] if len(features) == 1 else graph.add("Concat", features, "0=0")
        features.append(graph.conv(joined, conv, slope=block.lrelu.negative_slope))
    last = graph.conv(graph.add("Concat", features, "0=0"), block.conv5)
    return graph.weighted_sum([last, x], [0.2, 1.0])  # RRDBNet's residual scale 0.2


def _rrdbnet(graph: _Graph, image: str, model: RRDBNet) -> str:
    """RRDBNet on `image` (already pixel-unshuffled for the unshuffle variants)."""
    feat = graph.conv(image, model.conv_first)
    body = feat
    for rrdb in model.body:
        inner = body
        for block in (rrdb.rdb1, rrdb.rdb2, rrdb.rdb3):
            inner = _dense_block(graph, inner, block)
        body = graph.weighted_sum([inner, body], [0.2, 1.0])
    feat = graph.add_blobs(feat, graph.conv(body, model.conv_body))
    slope = model.lrelu.negative_slope
    for index, factor in enumerate(model.config.upsample_factors, start=1):
        feat = graph.conv(
            graph.nearest(feat, factor), getattr(model, f"conv_up{index}"), slope=slope
        )
    return graph.conv(graph.conv(feat, model.conv_hr, slope=slope), model.conv_last)


def _paper_head(graph: _Graph, image: str, head: PaperHead) -> str:
    def branch(blocks: nn.Sequential) -> str:
        out = image
        for block in blocks:
            out = graph.add_blobs(
                out, graph.conv(graph.conv(out, block.conv1, slope=0), block.conv2)
            )
        return out

    refined_x = branch(head.branch_x)
    if head.branch_y is None:  # single-branch ablation: I_SR = I_R^x
        return refined_x
    if head.branch_m is None:  # fixed-mask ablation: M_alpha = M_beta = 0.5
        return graph.weighted_sum([refined_x, branch(head.branch_y)], [0.5, 0.5])
    mask = graph.add("Softmax", [branch(head.branch_m)], "0=0 1=1")  # M_alpha: over channels
    term_x = graph.multiply(mask, refined_x)
    term_y = graph.multiply(graph.one_minus(mask), branch(head.branch_y))
    return graph.add_blobs(term_x, term_y)


def _official_head(graph: _Graph, image: str, head: OfficialHead) -> str:
    def stack(blocks: nn.Sequential) -> str:
        out = image
        for block in blocks:
            slope = block.block[1].negative_slope
            inner = graph.conv(
                graph.conv(out, block.block[0], slope=slope), block.block[2], slope=slope
            )
            out = graph.add_blobs(inner, graph.conv(out, block.conv))
        return out

    mask = graph.add("Softmax", [stack(head.sm)], "0=0 1=1")
    term_x = graph.conv(graph.multiply(mask, stack(head.branch1)), head.tail_conv1)
    term_y = graph.conv(graph.multiply(graph.one_minus(mask), stack(head.branch2)), head.tail_conv2)
    return graph.add_blobs(term_x, term_y)


def ncnn_files(model: nn.Module, *, fp16: bool = True) -> tuple[str, bytes]:
    """The .param text and .bin bytes of an RRDBNet, RWSR-EDL or SRVGGNetCompact generator."""
    graph = _Graph(fp16=fp16)
    image = INPUT_BLOB
    if isinstance(model, SRVGGNetCompact):
        out = image
        for layer in model.body:
            out = (
                graph.conv(out, layer) if isinstance(layer, nn.Conv2d) else graph.prelu(out, layer)
            )
        shuffled = graph.add("PixelShuffle", [out], f"0={model.config.scale}")
        out = graph.add_blobs(shuffled, graph.nearest(image, model.config.scale))
        return graph.text(out), bytes(graph.weights)
    if isinstance(model, RWSREDL):
        rrdb, head = model.rrdb, model.head
    elif isinstance(model, RRDBNet):
        rrdb, head = model, None
    else:
        raise ConfigError(
            f"ncnn export writes rwsr's RRDBNet, RWSR-EDL and SRVGGNetCompact generators, not"
            f" {type(model).__name__}; export it to ONNX instead (-o NAME.onnx)"
        )
    factor = rrdb.config.input_unshuffle
    if factor > 1:  # mirror what fills the last blocks; Reorg mode 0 is F.pixel_unshuffle
        padded = graph.add("Padding", [image], f"0=0 1={factor - 1} 2=0 3={factor - 1} 4=2")
        image = graph.add("Reorg", [padded], f"0={factor} 1=0")
    out = _rrdbnet(graph, image, rrdb)
    if isinstance(head, PaperHead):
        out = _paper_head(graph, out, head)
    elif isinstance(head, OfficialHead):
        out = _official_head(graph, out, head)
    if factor > 1:  # crop to scale x the input: the input itself, or its nearest upscale
        scale = rrdb.config.scale
        reference = INPUT_BLOB if scale == 1 else graph.nearest(INPUT_BLOB, scale)
        out = graph.add("Crop", [out, reference])
    return graph.text(out), bytes(graph.weights)
