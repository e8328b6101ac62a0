"""Frozen VGG features for the perceptual loss (ESRGAN: VGG19 conv5_4 before ReLU).

VGG19 is the paper's network; VGG16 (its last conv before ReLU is conv5_3) is the choice where
VGG19's weights are not at hand. Both are torchvision's ImageNet weights.

The ImageNet weights come from torchvision's download (cached under the torch hub
directory) or from a local file; offline, the error says how to supply one. A randomly
initialised VGG is only built when explicitly asked for (`allow_random=True`) and no file is
given, so nobody trains against a random network by accident. Every weights file must be the
named network: its `features.*` tensors have that network's names and shapes (an AlexNet or
the other VGG is refused), and every layer the extractor uses is there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import VGG16_Weights, VGG19_Weights, WeightsEnum
from torchvision.models.vgg import cfgs, make_layers

from rwsr.errors import CheckpointError
from rwsr.models.pretrained import cache_path, load_weights


def _layer_names(convs_per_block: tuple[int, ...]) -> tuple[str, ...]:
    """Names of torchvision's vgg.features entries: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    for block, convs in enumerate(convs_per_block, start=1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return tuple(names)


@dataclass(frozen=True)
class PerceptualNet:
    """A torchvision VGG: its layer names, its conv stack, its ImageNet weights."""

    name: str
    layer_names: tuple[str, ...]
    cfg: str  # torchvision.models.vgg.cfgs key
    weights: WeightsEnum
    default_layer: str  # the last conv before ReLU (ESRGAN's choice)


PERCEPTUAL_NETS = {
    "vgg19": PerceptualNet(
        "VGG19", _layer_names((2, 2, 4, 4, 4)), "E", VGG19_Weights.IMAGENET1K_V1, "conv5_4"
    ),
    "vgg16": PerceptualNet(
        "VGG16", _layer_names((2, 2, 3, 3, 3)), "D", VGG16_Weights.IMAGENET1K_V1, "conv5_3"
    ),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _features_of(
    state: object, features: nn.Sequential, last: int, *, source: object, network: str
) -> dict[str, torch.Tensor]:
    """The `features.*` tensors of a torchvision state dict, renamed to `features`' own keys;
    refused unless every one has the network's name and shape and the layers up to `last`
    (the deepest one used) are all there."""
    own = features.state_dict()
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{source}: not a torchvision {network} state dict (a {type(state).__name__})"
        )
    found = {
        key.removeprefix("features."): value
        for key, value in state.items()
        if isinstance(key, str) and key.startswith("features.")
    }
    problems = []
    for key, value in found.items():
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        if key not in own:
            problems.append(f"features.{key} {shape} is not in {network}")
        elif shape != tuple(own[key].shape):
            problems.append(f"features.{key} is {shape}, not {tuple(own[key].shape)}")
    needed = [key for key in own if int(key.split(".")[0]) <= last]
    problems += [f"features.{key} is missing" for key in needed if key not in found]
    if problems:
        raise CheckpointError(
            f"{source}: not a torchvision {network} state dict, {len(problems)} problem(s):"
            f" {'; '.join(problems[:3])}"
        )
    return found


class VGGFeatureExtractor(nn.Module):
    """Maps NCHW RGB in [0, 1] to a dict of named VGG feature maps (ImageNet-normalised
    input, frozen weights, eval mode). `layers` are names of `net`'s layers (conv5_4, ...)."""

    def __init__(
        self,
        *,
        net: str = "vgg19",
        layers: Sequence[str] | None = None,
        weights_path: str | os.PathLike[str] | None = None,
        allow_random: bool = False,
        option: str = "--vgg-weights PATH",
    ) -> None:
        """`option` is how the user of the calling command names a local weights file."""
        super().__init__()
        if net not in PERCEPTUAL_NETS:
            raise ValueError(f"Unknown perceptual net {net!r}; valid: {', '.join(PERCEPTUAL_NETS)}")
        spec = PERCEPTUAL_NETS[net]
        layers = tuple(layers) if layers else (spec.default_layer,)
        unknown = [name for name in layers if name not in spec.layer_names]
        if unknown:
            raise ValueError(
                f"Unknown {spec.name} layer(s) {unknown}; valid: {', '.join(spec.layer_names)}"
            )
        # The conv stack only: the 100M-parameter classifier is never needed.
        features = make_layers(cfgs[spec.cfg])
        last = max(spec.layer_names.index(name) for name in layers)
        if weights_path is not None or not allow_random:
            state = load_weights(
                spec.weights,
                weights_path,
                what="The perceptual loss",
                network=spec.name,
                option=option,
            )
            source = weights_path or cache_path(spec.weights)
            features.load_state_dict(
                _features_of(state, features, last, source=source, network=spec.name),
                strict=False,
            )
        self.net = net
        self.layer_names = spec.layer_names
        self.layers = tuple(layers)
        # Non-inplace ReLUs, so a conv output we return is not overwritten by the next ReLU.
        modules = [
            nn.ReLU() if isinstance(module, nn.ReLU) else module for module in features[: last + 1]
        ]
        self.features = nn.Sequential(*modules)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Always stays in eval mode: the extractor is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for name, module in zip(self.layer_names, self.features):
            h = module(h)
            if name in wanted:
                out[name] = h
        return out
