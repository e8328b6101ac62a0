"""Import of ncnn RRDBNet and SRVGGNetCompact models (e.g. realsr-ncnn-vulkan, Real-ESRGAN
ncnn builds, Upscayl's models).

No Python library reads ncnn files without the ncnn runtime, so the format is parsed here:
the .param file is a text list of layers ("Type name n_in n_out inputs... outputs... k=v"),
the .bin file stores, per Convolution in layer order, a 4-byte tag (0x01306B47: fp16 follows,
0: fp32), the weights (out, in, kh, kw), 4-byte alignment, then the fp32 bias without a tag;
per PReLU, its fp32 slopes without a tag.

`convert_ncnn` maps the convolutions (and PReLUs) onto RRDBNet or SRVGGNetCompact in module
order and proves the mapping by running the ncnn graph itself (a small interpreter for the
layer types these exports use) and the converted network on the same input: they must agree.
A graph with PReLU or PixelShuffle layers is a compact one, any other an RRDBNet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rwsr.errors import CheckpointError
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

PARAM_MAGIC = "7767517"
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000
# Largest output difference (on [0, 1] images) between ncnn's graph and the converted network.
AGREEMENT_TOLERANCE = 1e-4


@dataclass
class NcnnLayer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str]
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None

    def int_param(self, key: int, default: int) -> int:
        return int(self.params.get(key, default))

    def float_param(self, key: int, default: float) -> float:
        return float(self.params.get(key, default))

    def array_param(self, key: int) -> list[float]:
        """ncnn stores array parameter k as key -23300-k with value "n,v1,...,vn"."""
        raw = self.params.get(-23300 - key)
        return [float(v) for v in raw.split(",")[1:]] if raw else []


@dataclass
class NcnnGraph:
    layers: list[NcnnLayer] = field(default_factory=list)

    @property
    def convolutions(self) -> list[NcnnLayer]:
        return [layer for layer in self.layers if layer.kind == "Convolution"]


def parse_param(path: str | os.PathLike[str]) -> NcnnGraph:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: cannot read ncnn .param text file ({error})") from None
    if not lines or lines[0].strip() != PARAM_MAGIC:
        raise CheckpointError(f"{path}: not an ncnn .param file (first line is not {PARAM_MAGIC})")
    graph = NcnnGraph()
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        try:
            kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
            inputs, outputs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
            params = {
                int(k): v for k, v in (item.split("=", 1) for item in fields[4 + n_in + n_out :])
            }
        except (IndexError, ValueError):
            raise CheckpointError(
                f"{path}:{number}: malformed layer line: {line.strip()[:80]}"
            ) from None
        graph.layers.append(NcnnLayer(kind, name, inputs, outputs, params))
    return graph


def load_bin(graph: NcnnGraph, path: str | os.PathLike[str]) -> None:
    """Attach fp32 weight and bias tensors to every Convolution of `graph`, and slopes (as
    `weight`) to every PReLU."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ncnn .bin file ({error.strerror})") from None
    offset = 0

    def take(count: int, dtype: type[np.generic], what: str) -> np.ndarray:
        nonlocal offset
        size = count * np.dtype(dtype).itemsize
        if offset + size > len(data):
            raise CheckpointError(f"{path}: file ends inside {what} (truncated or wrong .param)")
        array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        offset += size
        return array

    for layer in graph.layers:
        if layer.kind == "PReLU":
            slopes = layer.int_param(0, 0)
            if slopes <= 0:
                raise CheckpointError(f"{path}: PReLU layer {layer.name} has no slopes")
            layer.weight = torch.from_numpy(take(slopes, np.float32, f"{layer.name} slopes").copy())
            continue
        if layer.kind != "Convolution":
            continue
        out_channels = layer.int_param(0, 0)
        kernel_w = layer.int_param(1, 0)
        kernel_h = layer.int_param(11, kernel_w)
        weight_size = layer.int_param(6, 0)
        if min(out_channels, kernel_w, kernel_h) <= 0:
            raise CheckpointError(f"{path}: layer {layer.name} has no outputs or no kernel size")
        in_channels, remainder = divmod(weight_size, out_channels * kernel_w * kernel_h)
        if remainder or in_channels == 0:
            raise CheckpointError(
                f"{path}: layer {layer.name} has inconsistent weight size {weight_size}"
            )
        tag = int(take(1, np.uint32, f"{layer.name} tag")[0])
        if tag == TAG_FP16:
            weights = take(weight_size, np.float16, f"{layer.name} weights").astype(np.float32)
            offset += (-weight_size * 2) % 4  # fp16 data is padded to 4 bytes
        elif tag == TAG_FP32:
            weights = take(weight_size, np.float32, f"{layer.name} weights")
        else:
            raise CheckpointError(
                f"{path}: layer {layer.name} uses storage tag 0x{tag:08X}; only fp16 (0x{TAG_FP16:08X})"
                " and fp32 (0) weights are supported (int8-quantised models are not)"
            )
        layer.weight = torch.from_numpy(weights.copy()).view(
            out_channels, in_channels, kernel_h, kernel_w
        )
        if layer.int_param(5, 0):
            layer.bias = torch.from_numpy(
                take(out_channels, np.float32, f"{layer.name} bias").copy()
            )
    if offset != len(data):
        raise CheckpointError(
            f"{path}: {len(data) - offset} bytes left after the last layer (wrong .param?)"
        )


def run_graph(graph: NcnnGraph, image: torch.Tensor) -> torch.Tensor:
    """Execute the ncnn graph on a 1x3xHxW tensor (the layer types of RRDBNet and
    SRVGGNetCompact exports only)."""
    blobs: dict[str, torch.Tensor] = {}
    for layer in graph.layers:
        args = [blobs[name] for name in layer.inputs]
        if layer.kind == "Input":
            result = image
        elif layer.kind == "Convolution":
            result = F.conv2d(
                args[0],
                layer.weight,
                layer.bias,
                stride=layer.int_param(3, 1),
                padding=layer.int_param(4, 0),
                dilation=layer.int_param(2, 1),
            )
            activation = layer.int_param(9, 0)
            if activation == 1:
                result = F.relu(result)
            elif activation == 2:
                result = F.leaky_relu(result, (layer.array_param(10) or [0.0])[0])
            elif activation != 0:
                raise CheckpointError(
                    f"ncnn layer {layer.name}: activation type {activation} is not supported"
                )
        elif layer.kind == "Split":
            result = args[0]
        elif layer.kind == "Concat":
            result = torch.cat(args, dim=1 + layer.int_param(0, 0))
        elif layer.kind == "Eltwise" and layer.int_param(0, 0) == 1:
            coefficients = layer.array_param(1) or [1.0] * len(args)
            result = sum(c * a for c, a in zip(coefficients, args))
        elif layer.kind == "BinaryOp" and layer.int_param(0, 0) in (0, 1, 2):
            op = (torch.add, torch.sub, torch.mul)[layer.int_param(0, 0)]
            other = args[1] if len(args) > 1 else layer.float_param(2, 0.0)
            result = op(args[0], other)
        elif layer.kind == "Interp" and layer.int_param(0, 0) == 1:
            scale = (layer.float_param(1, 1.0), layer.float_param(2, 1.0))
            result = F.interpolate(args[0], scale_factor=scale, mode="nearest")
        elif layer.kind in ("ReLU", "LeakyReLU"):
            result = F.leaky_relu(args[0], layer.float_param(0, 0.0))
        elif layer.kind == "PReLU":
            result = F.prelu(args[0], layer.weight)
        elif layer.kind == "PixelShuffle" and layer.int_param(1, 0) == 0:  # PyTorch's order
            result = F.pixel_shuffle(args[0], layer.int_param(0, 1))
        else:
            raise CheckpointError(
                f"ncnn layer {layer.name}: {layer.kind} (with these params) is not supported"
            )
        for name in layer.outputs:
            blobs[name] = result
    return blobs[graph.layers[-1].outputs[0]]


def _rrdbnet_config(graph: NcnnGraph, path: Path) -> RRDBNetConfig:
    convs = graph.convolutions
    interps = [layer for layer in graph.layers if layer.kind == "Interp"]
    factors = tuple(round(layer.float_param(1, 1.0)) for layer in interps)
    total = {(): 1, (2,): 2, (3,): 3, (2, 2): 4}.get(factors)
    nb, remainder = divmod(len(convs) - 4 - len(factors), 15)
    if total is None or remainder or nb < 1 or len(convs) < 2:
        raise CheckpointError(
            f"{path}: the graph is not an RRDBNet ({len(convs)} convolutions, up-sampling {factors})"
        )
    first, last = convs[0].weight, convs[-1].weight
    return RRDBNetConfig(
        scale=total,
        in_channels=first.shape[1],
        out_channels=last.shape[0],
        nf=first.shape[0],
        nb=nb,
        gc=convs[1].weight.shape[0],
    )


def _compact_config(graph: NcnnGraph, path: Path) -> CompactConfig:
    convs = graph.convolutions
    prelus = [layer for layer in graph.layers if layer.kind == "PReLU"]
    shuffles = [layer for layer in graph.layers if layer.kind == "PixelShuffle"]
    if len(convs) < 2 or len(prelus) != len(convs) - 1 or len(shuffles) > 1:
        raise CheckpointError(
            f"{path}: the graph is not an SRVGGNetCompact ({len(convs)} convolutions,"
            f" {len(prelus)} PReLU, {len(shuffles)} PixelShuffle)"
        )
    first = convs[0].weight
    return CompactConfig(
        scale=shuffles[0].int_param(0, 1) if shuffles else 1,
        in_channels=first.shape[1],
        out_channels=first.shape[1],
        nf=first.shape[0],
        num_conv=len(convs) - 2,
    )


def convert_ncnn(
    param_path: str | os.PathLike[str], bin_path: str | os.PathLike[str]
) -> RRDBNet | SRVGGNetCompact:
    """Build an RRDBNet or SRVGGNetCompact carrying the ncnn model's weights, verified
    against the ncnn graph."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    graph = parse_param(param_path)
    load_bin(graph, bin_path)
    compact = any(layer.kind in ("PReLU", "PixelShuffle") for layer in graph.layers)
    try:
        config = (_compact_config if compact else _rrdbnet_config)(graph, param_path)
    except ValueError as error:  # sizes the config refuses (pydantic's ValidationError is one)
        raise CheckpointError(f"{param_path}: unsupported network sizes ({error})") from None
    model = (SRVGGNetCompact(config) if compact else RRDBNet(config)).eval()
    name = type(model).__name__
    # Layers with weights, in order: Convolution -> Conv2d, PReLU -> PReLU.
    kinds = {nn.Conv2d: "Convolution", nn.PReLU: "PReLU"}
    modules = [m for m in model.modules() if type(m) in kinds]
    layers = [layer for layer in graph.layers if layer.kind in kinds.values()]
    if [kinds[type(m)] for m in modules] != [layer.kind for layer in layers]:
        raise CheckpointError(
            f"{param_path}: {len(graph.convolutions)} convolutions and"
            f" {len(layers) - len(graph.convolutions)} PReLU in the graph do not line up with"
            f" the {len(modules)} layers of {name}"
        )
    with torch.no_grad():
        for module, layer in zip(modules, layers):
            if module.weight.shape != layer.weight.shape or (layer.bias is None) != (
                getattr(module, "bias", None) is None
            ):
                raise CheckpointError(
                    f"{param_path}: layer {layer.name} has weights {tuple(layer.weight.shape)}, but"
                    f" {name} expects {tuple(module.weight.shape)} there: not an {name}"
                )
            module.weight.copy_(layer.weight)
            if layer.bias is not None:
                module.bias.copy_(layer.bias)
        probe = torch.rand(
            1, config.in_channels, 12, 12, generator=torch.Generator().manual_seed(0)
        )
        try:
            difference = (run_graph(graph, probe) - model(probe)).abs().max().item()
        except RuntimeError as error:  # e.g. branches of different sizes meet at an add
            raise CheckpointError(
                f"{param_path}: the ncnn graph does not run as a {name} ({error})"
            ) from None
    if difference > AGREEMENT_TOLERANCE:
        raise CheckpointError(
            f"{param_path}: the converted {name} differs from the ncnn graph by {difference:.2e}"
            f" (more than {AGREEMENT_TOLERANCE}); the graph is not a plain {name}"
        )
    return model


def ncnn_to_safetensors(
    param_path: Path,
    bin_path: Path,
    output: Path,
    *,
    dtype: torch.dtype,
    into: nn.Module | None = None,
    overwrite: bool = False,
) -> nn.Module:
    """Convert an ncnn RRDBNet or SRVGGNetCompact and write it as rwsr safetensors; the same
    files give the same bytes (the zoo pins the hash of what this writes). `into`: an RWSR-EDL
    generator whose RRDB trunk takes the weights (its head keeps its initialisation)."""
    from rwsr.models.checkpoint import check_finite_weights, load_weights_into, save_model

    model: nn.Module = convert_ncnn(param_path, bin_path)
    check_finite_weights(model, bin_path)  # NaN weights would also pass the graph comparison
    if into is not None:
        if getattr(into.config, "rrdb", None) != model.config:
            raise CheckpointError(
                f"{param_path}: the ncnn network is {model.config}; the generator to wrap it"
                f" into has the trunk {getattr(into.config, 'rrdb', None)}"
            )
        load_weights_into(into, model.state_dict(), strict=False, path=param_path)
        model = into
    source = f"ncnn {Path(param_path).name} + {Path(bin_path).name}"
    save_model(model, output, dtype=dtype, overwrite=overwrite, metadata={"source": source})
    return model
