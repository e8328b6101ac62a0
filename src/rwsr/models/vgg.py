"""Frozen VGG19 features for the perceptual loss (ESRGAN: conv5_4 before ReLU).

The ImageNet weights come from torchvision's download (cached under the torch hub
directory) or from a local file; offline, the error says how to supply one. A randomly
initialised VGG is only built when explicitly asked for (`allow_random=True`), so nobody
trains against a random network by accident.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from rwsr.errors import CheckpointError
from rwsr.models.pretrained import cache_path, load_weights


def _vgg19_layer_names() -> list[str]:
    """Names of torchvision's vgg19().features entries: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return names


VGG19_LAYER_NAMES: tuple[str, ...] = tuple(_vgg19_layer_names())
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatureExtractor(nn.Module):
    """Maps NCHW RGB in [0, 1] to a dict of named VGG19 feature maps (ImageNet-normalised
    input, frozen weights, eval mode). `layers` are names from VGG19_LAYER_NAMES."""

    def __init__(
        self,
        *,
        layers: Sequence[str] = ("conv5_4",),
        weights_path: str | os.PathLike[str] | None = None,
        allow_random: bool = False,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_LAYER_NAMES]
        if unknown or not layers:
            raise ValueError(
                f"Unknown VGG19 layer(s) {unknown or '(none given)'}; valid: {', '.join(VGG19_LAYER_NAMES)}"
            )
        # VGG19's conv stack only: the 102M-parameter classifier is never needed.
        features = make_layers(cfgs["E"])
        if not allow_random:
            state = load_weights(
                VGG19_Weights.IMAGENET1K_V1,
                weights_path,
                what="The perceptual loss",
                network="VGG19",
                option="--vgg-weights PATH",
            )
            try:
                features.load_state_dict(
                    {
                        k.removeprefix("features."): v
                        for k, v in state.items()
                        if k.startswith("features.")
                    }
                )
            except (RuntimeError, TypeError, AttributeError) as error:
                raise CheckpointError(
                    f"{weights_path or cache_path(VGG19_Weights.IMAGENET1K_V1)}: not a torchvision"
                    f" VGG19 state dict ({error})"
                ) from None
        self.layers = tuple(layers)
        last = max(VGG19_LAYER_NAMES.index(name) for name in layers)
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
        for name, module in zip(VGG19_LAYER_NAMES, self.features):
            h = module(h)
            if name in wanted:
                out[name] = h
        return out
