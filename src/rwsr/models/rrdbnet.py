"""ESRGAN's RRDBNet generator (Wang et al. 2018), the trunk of RWSR-EDL.

conv_first -> nb RRDBs (3 residual dense blocks of 5 convs each, growth gc, LeakyReLU 0.2,
residual scale 0.2) -> conv_body + long skip -> nearest up-sampling stages (conv + LReLU each)
-> conv_hr + LReLU -> conv_last. Parameter names follow BasicSR, the most common key format.

Scale 1 (CameraSR) has no up-sampling layers; scale 3 uses one nearest x3 stage.
`input_unshuffle` > 1 reproduces Real-ESRGAN's x2/x1 models, which pixel-unshuffle the
input and then up-sample by 4.
Contract: NCHW float RGB in [0, 1] in, same range out (not clamped: the caller clamps).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


class RRDBNetConfig(BaseModel):
    """Hyper-parameters of RRDBNet; defaults are ESRGAN's x4 network (16,697,987 params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["rrdbnet"] = "rrdbnet"
    scale: Literal[1, 2, 3, 4] = 4
    in_channels: int = Field(3, ge=1)
    out_channels: int = Field(3, ge=1)
    # Upper bounds far above any published model: a crafted file cannot ask for terabytes.
    nf: int = Field(64, ge=1, le=1024, description="feature channels")
    nb: int = Field(23, ge=1, le=256, description="number of RRDB blocks")
    gc: int = Field(32, ge=1, le=1024, description="growth channels inside a dense block")
    input_unshuffle: Literal[1, 2, 4] = Field(
        1, description="Real-ESRGAN x2/x1 style: pixel-unshuffle the input by this factor"
    )

    @model_validator(mode="after")
    def _unshuffle_matches_scale(self) -> RRDBNetConfig:
        if self.input_unshuffle > 1 and self.scale * self.input_unshuffle != 4:
            raise ValueError(
                f"input_unshuffle={self.input_unshuffle} needs scale={4 // self.input_unshuffle}"
                f" (the network then up-samples by 4), but got scale={self.scale}"
            )
        return self

    @property
    def upsample_factors(self) -> tuple[int, ...]:
        """Nearest-neighbour factors of the up-sampling stages, in order."""
        total = self.scale * self.input_unshuffle
        return {1: (), 2: (2,), 3: (3,), 4: (2, 2)}[total]


def unshuffled_conv_first(weight: torch.Tensor, factor: int) -> torch.Tensor:
    """conv_first weights for a pixel-unshuffled input, made from a plain input's.

    Each of a pixel's factor**2 unshuffled copies gets 1/factor**2 of the RGB kernel (channel
    c*factor**2 + k of F.pixel_unshuffle comes from colour c), so the widened network computes
    exactly what the plain one computes on the factor x factor box average of the image: a
    trained x4 RRDB starts the x1 pixel-unshuffle-4 variant as x4(box4(photo)).
    """
    return weight.repeat_interleave(factor**2, dim=1) / factor**2


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; output = x + 0.2 * conv5(...)."""

    def __init__(self, *, nf: int, gc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        # ESRGAN's and the authors' init (initialize_weights([...], 0.1)): Kaiming normal
        # (fan_in) scaled by 0.1, zero bias, so the 3*nb residual blocks of a model trained
        # from scratch (AIM 2019) start close to identity. Loaded weights replace it.
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            with torch.no_grad():
                conv.weight.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        # Under autocast the dense concatenations run in the compute dtype (bf16/fp16) while
        # the residual `x` keeps its own precision: 23x3 skips summed in bf16 would cost ~3 dB.
        xc = x.to(x1.dtype)
        x2 = self.lrelu(self.conv2(torch.cat((xc, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((xc, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((xc, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((xc, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a 0.2-scaled skip."""

    def __init__(self, *, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(nf=nf, gc=gc)
        self.rdb2 = ResidualDenseBlock(nf=nf, gc=gc)
        self.rdb3 = ResidualDenseBlock(nf=nf, gc=gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """The RRDB generator; see the module docstring for the structure and contract."""

    def __init__(self, config: RRDBNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RRDBNetConfig()
        nf = config.nf
        first_in = config.in_channels * config.input_unshuffle**2
        self.conv_first = nn.Conv2d(first_in, nf, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(nf=nf, gc=config.gc) for _ in range(config.nb)))
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        # conv_up1, conv_up2 (BasicSR names) as plain attributes so state-dict keys match.
        for index, _ in enumerate(config.upsample_factors, start=1):
            setattr(self, f"conv_up{index}", nn.Conv2d(nf, nf, 3, 1, 1))
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, config.out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        # Training option, not architecture: recompute each RRDB's activations in backward.
        self.gradient_checkpointing = False

    def _trunk(self, feat: torch.Tensor) -> torch.Tensor:
        if not (self.gradient_checkpointing and self.training and torch.is_grad_enabled()):
            return self.body(feat)
        for block in self.body:
            feat = checkpoint(block, feat, use_reentrant=False)
        return feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.input_unshuffle > 1:
            x = F.pixel_unshuffle(x, self.config.input_unshuffle)
        feat = self.conv_first(x).to(x.dtype)  # the trunk's residual stream stays in x's dtype
        feat = feat + self.conv_body(self._trunk(feat))
        for index, factor in enumerate(self.config.upsample_factors, start=1):
            up = F.interpolate(feat, scale_factor=factor, mode="nearest")
            feat = self.lrelu(getattr(self, f"conv_up{index}")(up))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
