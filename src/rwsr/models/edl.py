"""The exclusionary dual-learning head and the full RWSR-EDL generator (paper Sec. III-C).

The RRDB trunk produces an intermediate image I_G. The head refines it in two branches, x
(optimised by the adversarial loss) and y (by the pixel loss), and fuses them with a soft
mask from a third branch m, so that the two objectives act on exclusive parts of the image.

Paper variant (default, Eq. 2-4): each branch is 3 ResBlocks on the image,
I_R = I_G + f(I_G); M_alpha = softmax_c(I_R^m), M_beta = 1 - M_alpha;
I_SR = M_alpha * I_R^x + M_beta * I_R^y.  31,707 head parameters.

Official-code variant: 64-channel stacks branch1, branch2, sm of RB(3,64), RB(64,64),
RB(64,64) with 1x1 shortcuts; mask = softmax over sm's 64 channels;
I_SR = tail_conv1(mask * branch1(I_G)) + tail_conv2((1 - mask) * branch2(I_G)).
588,486 head parameters.

Texture dial (rwsr, beyond the paper): `texture` T in [0, 1] hands the share 1 - T of the
texture branch's mask to the fidelity branch. Paper head:
I_SR(T) = M_alpha * (T * I_R^x + (1 - T) * I_R^y) + M_beta * I_R^y, so T = 1 is the trained
output and T = 0 the fidelity branch's refined image I_R^y alone. Official head, alike:
I_SR(T) = T * out1 + (1 - T) * (tail_conv2(mask * branch2(I_G)) - bias) + out2. One network
thus gives a perception-distortion dial. T = 1 runs exactly the plain forward. Scaling the
texture term alone (I_SR = term_y + T * term_x) would not do: M_beta * I_R^y is no image by
itself (on City100 091 with the retired 2-block rwsr-edl-camerasr-x1, tests/fixtures/models:
mean 73 against HR's 110, 13 dB), while I_R^y is (26.15 dB, above the fused output's 26.09).

Identity initialisation (default): the head starts as the identity map, I_SR = I_G, so a
pretrained RRDB wrapped in the head produces the same image at step 0 and fine-tuning starts
from it. `init="default"` keeps PyTorch's default initialisation, as the authors' code does.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F

from rwsr.errors import ConfigError
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig


class EDLHeadConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: Literal["paper", "official"] = "paper"
    init: Literal["identity", "default"] = "identity"
    nf: int = Field(64, ge=1, le=1024, description="hidden channels of every block")
    blocks: int = Field(3, ge=1, le=64, description="blocks per branch")
    # Ablations of Table VII (paper variant only): one refinement branch (I_SR = I_R^x), or
    # two branches fused with a fixed M_alpha = M_beta = 0.5 instead of the learned mask.
    branches: Literal[1, 2] = 2
    mask: Literal["learned", "fixed"] = "learned"

    @model_validator(mode="after")
    def _ablations_need_paper_head(self) -> EDLHeadConfig:
        if self.variant == "official" and (self.branches != 2 or self.mask != "learned"):
            raise ValueError("branches/mask ablations exist for the paper head only")
        if self.branches == 1 and self.mask != "learned":
            raise ValueError("a single branch has no mask to fix; leave mask='learned'")
        return self


class RWSREDLConfig(BaseModel):
    """RRDB trunk + exclusionary head; defaults give the paper's x4 model (16,729,694 params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["rwsr-edl"] = "rwsr-edl"
    rrdb: RRDBNetConfig = RRDBNetConfig()
    head: EDLHeadConfig = EDLHeadConfig()


class EDLOutput(NamedTuple):
    """Everything the exclusionary losses need; `sr == term_x + term_y` exactly.

    term_x: the adversarial branch's share of the output (paper: M_alpha * I_R^x).
    term_y: the pixel branch's share (paper: M_beta * I_R^y).
    mask: M_alpha (3 channels in the paper variant, 64 in the official one).
    intermediate: I_G, the RRDB trunk's output.
    """

    sr: torch.Tensor
    term_x: torch.Tensor
    term_y: torch.Tensor
    mask: torch.Tensor
    intermediate: torch.Tensor


class ResBlock(nn.Module):
    """Paper ResBlock: x + conv(relu(conv(x))), image channels in and out."""

    def __init__(self, *, channels: int, nf: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, channels, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class PaperHead(nn.Module):
    def __init__(self, *, channels: int, config: EDLHeadConfig) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(
                *(ResBlock(channels=channels, nf=config.nf) for _ in range(config.blocks))
            )

        self.branch_x = branch()
        self.branch_y = branch() if config.branches == 2 else None
        self.branch_m = branch() if config.branches == 2 and config.mask == "learned" else None
        if config.init == "identity":
            for block in self.modules():
                if isinstance(block, ResBlock):
                    nn.init.zeros_(block.conv2.weight)
                    nn.init.zeros_(block.conv2.bias)

    def forward(
        self, image: torch.Tensor, texture: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        refined_x = self.branch_x(image)
        if self.branch_y is None:  # single-branch ablation
            return refined_x, torch.zeros_like(refined_x), torch.ones_like(refined_x)
        if self.branch_m is None:  # fixed-mask ablation
            mask_alpha = torch.full_like(image, 0.5)
        else:
            mask_alpha = torch.softmax(self.branch_m(image), dim=1)
        refined_y = self.branch_y(image)
        if texture != 1:
            refined_x = texture * refined_x + (1 - texture) * refined_y
        term_x = mask_alpha * refined_x
        term_y = (1 - mask_alpha) * refined_y
        return term_x, term_y, mask_alpha


class OfficialRB(nn.Module):
    """The authors' RB: lrelu(conv(lrelu(conv(x)))) + conv1x1(x)."""

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.conv(x)


class OfficialHead(nn.Module):
    def __init__(self, *, channels: int, config: EDLHeadConfig) -> None:
        super().__init__()
        nf = config.nf

        def stack() -> nn.Sequential:
            sizes = [(channels, nf)] + [(nf, nf)] * (config.blocks - 1)
            return nn.Sequential(*(OfficialRB(in_channels=i, out_channels=o) for i, o in sizes))

        self.branch1 = stack()
        self.branch2 = stack()
        self.sm = stack()
        self.tail_conv1 = nn.Conv2d(nf, channels, 3, 1, 1)
        self.tail_conv2 = nn.Conv2d(nf, channels, 3, 1, 1)
        if config.init == "identity":
            self._init_identity(channels=channels, nf=nf)

    @torch.no_grad()
    def _init_identity(self, *, channels: int, nf: int) -> None:
        """Branches carry the image in their first channels, the mask starts uniform (1/nf),
        and the tails rescale so that out1 + out2 = I_G; earlier sm blocks stay random so
        the mask branch receives gradients from the first step."""
        for branch in (self.branch1, self.branch2):
            for block in branch:
                nn.init.zeros_(block.block[2].weight)
                nn.init.zeros_(block.block[2].bias)
                nn.init.zeros_(block.conv.weight)
                nn.init.zeros_(block.conv.bias)
                for c in range(min(block.conv.in_channels, block.conv.out_channels)):
                    block.conv.weight[c, c, 0, 0] = 1.0
        last = self.sm[-1]
        for conv in (last.block[2], last.conv):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        # mask = 1/nf everywhere: out1 = w1 * I_G / nf, out2 = w2 * I_G * (nf - 1) / nf.
        for tail, weight in ((self.tail_conv1, nf / 2), (self.tail_conv2, nf / (2 * (nf - 1)))):
            nn.init.zeros_(tail.weight)
            nn.init.zeros_(tail.bias)
            for c in range(channels):
                tail.weight[c, c, 1, 1] = weight

    def forward(
        self, image: torch.Tensor, texture: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = torch.softmax(self.sm(image), dim=1)
        fidelity = self.branch2(image)
        term_x = self.tail_conv1(mask * self.branch1(image))
        term_y = self.tail_conv2((1 - mask) * fidelity)
        if texture != 1:
            tail = self.tail_conv2
            fidelity_x = F.conv2d(mask * fidelity, tail.weight, None, tail.stride, tail.padding)
            term_x = texture * term_x + (1 - texture) * fidelity_x
        return term_x, term_y, mask


class RWSREDL(nn.Module):
    """RRDB trunk (`self.rrdb`) followed by the exclusionary head (`self.head`).

    forward(x) returns I_SR; forward(x, return_terms=True) returns an EDLOutput for training
    (keeping one forward so DDP and torch.compile see every call). `texture` is the
    inference-time dial of the module docstring (set it with `set_texture`).
    """

    def __init__(self, config: RWSREDLConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RWSREDLConfig()
        self.rrdb = RRDBNet(config.rrdb)
        head_type = PaperHead if config.head.variant == "paper" else OfficialHead
        self.head = head_type(channels=config.rrdb.out_channels, config=config.head)
        self.texture = 1.0

    def forward(self, x: torch.Tensor, *, return_terms: bool = False) -> torch.Tensor | EDLOutput:
        intermediate = self.rrdb(x)
        term_x, term_y, mask = self.head(intermediate, self.texture)
        sr = term_x + term_y
        if return_terms:
            return EDLOutput(sr, term_x, term_y, mask, intermediate)
        return sr


def set_texture(model: nn.Module, texture: float, *, name: str = "the model") -> None:
    """Set the texture dial of an RWSR-EDL generator (module docstring); refused for models
    without two branches to blend, and for values outside [0, 1]."""
    if not 0 <= texture <= 1:  # also refuses NaN
        raise ConfigError(f"--texture must be between 0 and 1, but got {texture:g}")
    if not isinstance(model, RWSREDL):
        raise ConfigError(
            f"--texture needs a model with the exclusionary dual-learning head (rwsr-edl-*);"
            f" {name} has none"
        )
    if model.config.head.branches == 1:
        raise ConfigError(f"--texture: {name} has a single-branch head, no fidelity branch")
    model.texture = float(texture)
