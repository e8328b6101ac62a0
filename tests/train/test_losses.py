"""Loss routing proven with autograd: under Eq. 8 (literal, the default, and rwsr's
stop-gradient variant) the pixel loss reaches only branch y and the adversarial loss only
branch x; the default's values are the authors' objective."""

from __future__ import annotations

import pytest
import torch

from rwsr.models.discriminators import PatchGAN, PatchGANConfig
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.vgg import VGGFeatureExtractor
from rwsr.train.config import LossConfig
from rwsr.train.losses import (
    PerceptualLoss,
    discriminator_loss,
    generator_losses,
    loss_inputs,
    ragan_discriminator_loss,
    ragan_generator_loss,
)


def _generator(variant: str = "paper") -> RWSREDL:
    torch.manual_seed(0)
    config = RWSREDLConfig(
        rrdb=RRDBNetConfig(nf=8, nb=1, gc=4, scale=1),
        head=EDLHeadConfig(variant=variant, nf=8, init="default"),
    )
    return RWSREDL(config)


def _grad_norms(model: RWSREDL, loss: torch.Tensor) -> dict[str, float]:
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    groups: dict[str, float] = {}
    for name, parameter in model.named_parameters():
        group = name.split(".")[1] if name.startswith("head.") else "rrdb"
        grad = 0.0 if parameter.grad is None else float(parameter.grad.abs().sum())
        groups[group] = groups.get(group, 0.0) + grad
    return groups


@pytest.mark.parametrize("variant", ["paper", "official"])
@pytest.mark.parametrize("routing", ["exclusionary", "literal"])
def test_exclusionary_routing_separates_the_branches(variant: str, routing: str) -> None:
    model = _generator(variant)
    discriminator = PatchGAN(PatchGANConfig(nf=8, layers=2))
    lr, hr = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    out = model(lr, return_terms=True)
    x_branch, y_branch = ("branch_x", "branch_y") if variant == "paper" else ("branch1", "branch2")
    mask_branch = "branch_m" if variant == "paper" else "sm"
    pix = generator_losses(
        out, hr, routing=routing, weights={"pix": 1}, perceptual=None, discriminator=None
    )
    grads = _grad_norms(model, pix["total"])
    assert (
        grads[x_branch] == 0
        and grads[y_branch] > 0
        and grads[mask_branch] > 0
        and grads["rrdb"] > 0
    )
    adv = generator_losses(
        out, hr, routing=routing, weights={"adv": 1}, perceptual=None, discriminator=discriminator
    )
    grads = _grad_norms(model, adv["total"])
    assert grads[y_branch] == 0 and grads[x_branch] > 0 and grads[mask_branch] > 0


def test_weighted_sum_sends_every_loss_everywhere() -> None:
    model = _generator()
    out = model(torch.rand(1, 3, 16, 16), return_terms=True)
    pix = generator_losses(
        out,
        torch.rand(1, 3, 16, 16),
        routing="weighted-sum",
        weights={"pix": 1},
        perceptual=None,
        discriminator=None,
    )
    grads = _grad_norms(model, pix["total"])
    assert grads["branch_x"] > 0 and grads["branch_y"] > 0


def test_exclusionary_losses_judge_the_whole_image() -> None:
    """The routed pixel loss has the value of L1(I_SR, HR): only the gradient is routed."""
    model = _generator()
    out = model(torch.rand(1, 3, 16, 16), return_terms=True)
    hr = torch.rand(1, 3, 16, 16)
    routed = generator_losses(
        out, hr, routing="exclusionary", weights={"pix": 1}, perceptual=None, discriminator=None
    )
    torch.testing.assert_close(routed["pix"], torch.nn.functional.l1_loss(out.sr, hr))


def test_ragan_losses() -> None:
    real, fake = torch.tensor([3.0, 2.0]), torch.tensor([-2.0, -3.0])
    # D separates well: its loss is small and G's is large; swapping the roles swaps them.
    assert ragan_discriminator_loss(real, fake) < 0.01
    assert ragan_generator_loss(real, fake) > 4
    torch.testing.assert_close(
        ragan_discriminator_loss(real, fake), ragan_generator_loss(fake, real)
    )
    equal = torch.zeros(4)
    torch.testing.assert_close(ragan_generator_loss(equal, equal), torch.log(torch.tensor(2.0)))


def test_discriminator_loss_does_not_reach_the_generator() -> None:
    model = _generator()
    discriminator = PatchGAN(PatchGANConfig(nf=8, layers=2))
    out = model(torch.rand(1, 3, 32, 32), return_terms=True)
    discriminator_loss(discriminator, out.sr, torch.rand(1, 3, 32, 32)).backward()
    assert all(p.grad is None for p in model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in discriminator.parameters())


def test_perceptual_loss_uses_the_chosen_layers() -> None:
    extractor = VGGFeatureExtractor(layers=("conv1_2", "conv2_2"), allow_random=True)
    loss = PerceptualLoss(extractor, {"conv1_2": 0.0, "conv2_2": 1.0})
    image = torch.rand(1, 3, 32, 32)
    assert float(loss(image, image)) == 0
    assert float(loss(image, image.flip(-1))) > 0


def test_default_routing_is_the_authors_objective() -> None:
    """Eq. 8 as the authors' training code computes it: L1 between the pixel branch's term and
    HR, RaGAN on D(adversarial branch's term) against D(HR), perceptual loss on the fused I_SR."""
    routing = LossConfig().routing
    model = _generator("official")
    discriminator = PatchGAN(PatchGANConfig(nf=8, layers=2))
    out = model(torch.rand(2, 3, 24, 24), return_terms=True)
    hr = torch.rand(2, 3, 24, 24)
    values = generator_losses(
        out,
        hr,
        routing=routing,
        weights={"pix": 1, "adv": 1},
        perceptual=None,
        discriminator=discriminator,
    )
    torch.testing.assert_close(values["pix"], torch.nn.functional.l1_loss(out.term_y, hr))
    real, fake = discriminator(hr), discriminator(out.term_x)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected_adv = (
        bce(real - fake.mean(), torch.zeros_like(real))
        + bce(fake - real.mean(), torch.ones_like(fake))
    ) / 2
    torch.testing.assert_close(values["adv"], expected_adv)
    assert loss_inputs(out, routing)["per"] is out.sr
