"""Real-ESRGAN's compact generator, SRVGGNetCompact (Wang et al. 2021, Real-ESRGAN v0.2.5).

A plain VGG-style stack at the input's resolution: conv3x3 (in -> nf) + PReLU, `num_conv`
times conv3x3 (nf -> nf) + PReLU, conv3x3 (nf -> out * scale^2), pixel shuffle by `scale`,
plus the nearest-upsampled input (the network learns the residual). No convolution runs at
the output resolution, so it costs ~15x fewer FLOPs than RRDBNet at x4 (rwsr.models.cost).

Parameter names are Real-ESRGAN's (`body.N`: convolutions at even N, PReLUs at odd N), so
its official .pth files (realesr-general-x4v3, realesr-animevideov3) load as they are.
Real-ESRGAN spells the sizes num_in_ch, num_feat, upscale; rwsr spells them as everywhere
(in_channels, nf, scale). Only PReLU is supported: ReLU or LeakyReLU variants store no
activation weights, so a file alone cannot say which one it is.
Contract: NCHW float RGB in [0, 1] in, same range out (not clamped: the caller clamps).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F


class CompactConfig(BaseModel):
    """Hyper-parameters of SRVGGNetCompact; defaults are realesr-general-x4v3 (1,213,296
    parameters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["compact"] = "compact"
    scale: Literal[1, 2, 3, 4] = 4
    in_channels: int = Field(3, ge=1)
    out_channels: int = Field(3, ge=1)
    # Upper bounds far above any published model: a crafted file cannot ask for terabytes.
    nf: int = Field(64, ge=1, le=1024, description="feature channels")
    num_conv: int = Field(32, ge=0, le=512, description="nf -> nf convolutions in the body")
    act_type: Literal["prelu"] = "prelu"

    @model_validator(mode="after")
    def _residual_needs_equal_channels(self) -> CompactConfig:
        if self.in_channels != self.out_channels:
            raise ValueError(
                "the output adds the upsampled input: in_channels and out_channels must be"
                f" equal, but got {self.in_channels} and {self.out_channels}"
            )
        return self


class SRVGGNetCompact(nn.Module):
    """The compact generator; see the module docstring for the structure and contract."""

    def __init__(self, config: CompactConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CompactConfig()
        nf = config.nf
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, nf, 3, 1, 1), nn.PReLU(nf)]
        for _ in range(config.num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), nn.PReLU(nf)]
        layers.append(nn.Conv2d(nf, config.out_channels * config.scale**2, 3, 1, 1))
        self.body = nn.ModuleList(layers)  # a list, not Sequential: Real-ESRGAN's key names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.config.scale)
        return out + F.interpolate(x, scale_factor=self.config.scale, mode="nearest")
