"""Discriminators for GAN training: PatchGAN (the paper's default, Table VIII) and ESRGAN's
VGG-128. Both take NCHW RGB in [0, 1] and return raw logits (the RaGAN loss applies the
sigmoid inside BCE-with-logits)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class PatchGANConfig(BaseModel):
    """pix2pix NLayerDiscriminator; defaults: 3 layers, 64 filters, BatchNorm (2,765,633 params,
    14x14 logits for a 128x128 input)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["patchgan"] = "patchgan"
    in_channels: int = Field(3, ge=1)
    nf: int = Field(64, ge=1)
    layers: int = Field(3, ge=1)


class VGG128Config(BaseModel):
    """ESRGAN Discriminator_VGG_128: ten convs with BatchNorm, then two linear layers; the input
    must be 128x128."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["vgg128"] = "vgg128"
    in_channels: int = Field(3, ge=1)
    nf: int = Field(64, ge=1)


class PatchGAN(nn.Module):
    def __init__(self, config: PatchGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PatchGANConfig()
        nf = config.nf
        layers: list[nn.Module] = [
            nn.Conv2d(config.in_channels, nf, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = nf
        for index in range(1, config.layers + 1):
            new_width = nf * min(2**index, 8)
            stride = 2 if index < config.layers else 1
            layers += [
                nn.Conv2d(width, new_width, 4, stride, 1, bias=False),  # BatchNorm has the bias
                nn.BatchNorm2d(new_width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = new_width
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class VGG128(nn.Module):
    def __init__(self, config: VGG128Config | None = None) -> None:
        super().__init__()
        self.config = config = config or VGG128Config()
        nf = config.nf
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
        layers: list[nn.Module] = []
        width_in = config.in_channels
        for stage, width in enumerate(widths):
            # conv{stage}_0: 3x3 stride 1 (no BatchNorm on the very first), conv{stage}_1: 4x4 stride 2.
            layers.append(nn.Conv2d(width_in, width, 3, 1, 1, bias=stage == 0))
            if stage > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            layers += [
                nn.Conv2d(width, width, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * 4 * 4, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (128, 128):
            raise ValueError(f"VGG-128 expects 128x128 inputs, but got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x).flatten(1))
