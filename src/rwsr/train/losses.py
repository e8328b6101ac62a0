"""The losses of RWSR-EDL (paper Sec. III-D) and how they are routed to the head's branches.

L_pix: L1. L_per: L1 between frozen VGG19 features (default conv5_4 before ReLU). L_adv:
relativistic average GAN (RaGAN) with BCE-with-logits, for G and for D. The discriminator
always trains on the fused output I_SR against HR (the authors' code).

Routing of the generator objective (`Routing`):
- "literal" (default): Eq. 8 as written, and what the authors' training code does (checked
  against their SRGANModel.optimize_parameters): L_adv on term_x alone (D judges
  M_alpha*I_R^x; in the official head tail_conv1's output), L_pix between term_y alone and
  HR, L_per on I_SR (term_x = M_alpha*I_R^x, term_y = M_beta*I_R^y, I_SR = term_x + term_y).
- "exclusionary" (rwsr's variant): each loss judges the whole fused image, but its gradient
  reaches only its own branch: L_adv sees term_x + sg(term_y), L_pix sees sg(term_x) + term_y,
  L_per sees I_SR (sg = stop-gradient). The gradient paths are those of Eq. 8 (L_adv through
  M_alpha and I_R^x, L_pix through M_beta and I_R^y), while D and the pixel loss compare
  complete images with HR.
- "weighted-sum" (Eq. 7, the baseline): all three losses on I_SR.
For a generator without a head (plain RRDBNet) every routing puts all losses on its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from rwsr.models.edl import EDLOutput

Routing = Literal["exclusionary", "literal", "weighted-sum"]


def pixel_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(sr, hr)


class PerceptualLoss(nn.Module):
    """Weighted L1 between VGG19 feature maps of SR and HR (features of HR not differentiated)."""

    def __init__(self, extractor: nn.Module, layer_weights: Mapping[str, float]) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer_weights = dict(layer_weights)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sr_features = self.extractor(sr)
        with torch.no_grad():
            hr_features = self.extractor(hr)
        return sum(
            w * F.l1_loss(sr_features[k], hr_features[k]) for k, w in self.layer_weights.items()
        )


def ragan_loss(preferred_logits: torch.Tensor, other_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average BCE: `preferred` should look more real than the average `other`,
    and `other` less real than the average `preferred`."""
    preferred_rel = preferred_logits - other_logits.mean()
    other_rel = other_logits - preferred_logits.mean()
    return (
        F.binary_cross_entropy_with_logits(preferred_rel, torch.ones_like(preferred_rel))
        + F.binary_cross_entropy_with_logits(other_rel, torch.zeros_like(other_rel))
    ) / 2


def ragan_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN for G: the fake should look more real than the real."""
    return ragan_loss(fake_logits, real_logits)


def ragan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN for D: the mirror image of the generator's objective."""
    return ragan_loss(real_logits, fake_logits)


def loss_inputs(out: EDLOutput | torch.Tensor, routing: Routing) -> dict[str, torch.Tensor]:
    """Which image each generator loss sees: keys 'pix', 'per', 'adv'."""
    if isinstance(out, torch.Tensor):
        return {"pix": out, "per": out, "adv": out}
    if routing == "exclusionary":
        return {
            "pix": out.term_x.detach() + out.term_y,
            "per": out.sr,
            "adv": out.term_x + out.term_y.detach(),
        }
    if routing == "literal":
        return {"pix": out.term_y, "per": out.sr, "adv": out.term_x}
    return {"pix": out.sr, "per": out.sr, "adv": out.sr}


def generator_losses(
    out: EDLOutput | torch.Tensor,
    hr: torch.Tensor,
    *,
    routing: Routing,
    weights: Mapping[str, float],
    perceptual: PerceptualLoss | None,
    discriminator: nn.Module | None,
) -> dict[str, torch.Tensor]:
    """Unweighted loss values ('pix', 'per', 'adv') for the terms whose weight is > 0, plus
    'total', the weighted sum that G minimises."""
    inputs = loss_inputs(out, routing)
    values: dict[str, torch.Tensor] = {}
    if weights.get("pix", 0) > 0:
        values["pix"] = pixel_loss(inputs["pix"], hr)
    if weights.get("per", 0) > 0:
        if perceptual is None:
            raise ValueError("a perceptual weight > 0 needs a PerceptualLoss")
        values["per"] = perceptual(inputs["per"], hr)
    if weights.get("adv", 0) > 0:
        if discriminator is None:
            raise ValueError("an adversarial weight > 0 needs a discriminator")
        real_logits = discriminator(hr).detach()
        values["adv"] = ragan_generator_loss(real_logits, discriminator(inputs["adv"]))
    values["total"] = sum(weights[name] * value for name, value in values.items())
    return values


def discriminator_loss(
    discriminator: nn.Module, sr: torch.Tensor, hr: torch.Tensor
) -> torch.Tensor:
    """RaGAN loss of D on HR (real) against the fused output (fake, no gradient to G)."""
    return ragan_discriminator_loss(discriminator(hr), discriminator(sr.detach()))
