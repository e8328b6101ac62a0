"""Architecture facts from the paper and the authors' code: parameter counts, head maths,
identity initialisation, shapes."""

from __future__ import annotations

import re

import pytest
import torch
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.models.catalog import BUILTIN_ARCHITECTURES, architecture_config, build_model
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

SMALL_TRUNK = RRDBNetConfig(nf=16, nb=2, gc=8)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("rrdbnet-x4", 16_697_987),  # ESRGAN
        ("rwsr-edl-x4", 16_729_694),  # paper Table VI
        ("rwsr-edl-official-x4", 17_286_473),  # authors' code
        ("patchgan", 2_765_633),  # pix2pix NLayerDiscriminator, 3 layers
    ],
)
def test_info_prints_parameter_counts(name: str, count: int) -> None:
    result = CliRunner().invoke(app, ["info", name])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^parameters: +{count:,}$", result.output, re.MULTILINE), result.output
    assert sum(p.numel() for p in build_model(architecture_config(name)).parameters()) == count


def test_unknown_architecture_suggests_names() -> None:
    result = CliRunner().invoke(app, ["info", "rwsr-edl-x5"])
    assert result.exit_code != 0
    assert "Unknown architecture 'rwsr-edl-x5'" in result.output
    assert "rwsr-edl-x4" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_rrdbnet_scales(scale: int) -> None:
    model = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=scale))
    assert model(torch.rand(1, 3, 7, 9)).shape == (1, 3, 7 * scale, 9 * scale)
    # One up-sampling conv per x2 stage (x3: one x3 stage); x1 (CameraSR) has none at all.
    stages = {
        name.split(".")[0] for name, _ in model.named_parameters() if name.startswith("conv_up")
    }
    assert len(stages) == {1: 0, 2: 1, 3: 1, 4: 2}[scale]


def test_realesrgan_style_unshuffle_models() -> None:
    x2 = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=2, input_unshuffle=2))
    assert x2.conv_first.in_channels == 12
    assert x2(torch.rand(1, 3, 8, 10)).shape == (1, 3, 16, 20)
    with pytest.raises(ValueError, match="needs scale=1"):
        RRDBNetConfig(scale=4, input_unshuffle=4)


def _randomise_head(model: RWSREDL) -> None:
    """Move the head away from its identity initialisation, as training would."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)


def test_paper_head_masks_partition_unity() -> None:
    model = RWSREDL(RWSREDLConfig(rrdb=SMALL_TRUNK)).eval()
    _randomise_head(model)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 10, 12), return_terms=True)
    mask_alpha = out.mask
    mask_beta = 1 - mask_alpha
    assert mask_alpha.shape == (2, 3, 40, 48)
    # M_alpha + M_beta == 1 elementwise, M_alpha is a softmax over channels.
    torch.testing.assert_close(mask_alpha + mask_beta, torch.ones_like(mask_alpha))
    torch.testing.assert_close(mask_alpha.sum(dim=1), torch.ones(2, 40, 48))
    assert (mask_alpha > 0).all() and (mask_alpha < 1).all()
    # The masks really differ across pixels once the head is trained (not a constant 1/3).
    assert mask_alpha.std() > 1e-3
    torch.testing.assert_close(out.sr, out.term_x + out.term_y)
    # I_SR = M_alpha * I_R^x + M_beta * I_R^y with I_R = I_G + f(I_G).
    branch_x = model.head.branch_x(out.intermediate)
    branch_y = model.head.branch_y(out.intermediate)
    torch.testing.assert_close(out.sr, mask_alpha * branch_x + mask_beta * branch_y)


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_head_is_identity_at_initialisation(variant: str) -> None:
    """A pretrained trunk wrapped in a new head produces the trunk's image at step 0."""
    torch.manual_seed(0)
    trunk = RRDBNet(SMALL_TRUNK).eval()
    model = RWSREDL(RWSREDLConfig(rrdb=SMALL_TRUNK, head=EDLHeadConfig(variant=variant))).eval()
    model.rrdb.load_state_dict(trunk.state_dict())
    image = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(model(image), trunk(image), atol=1e-6, rtol=0)
    # ... and it is not an identity once the head moves: the test above can fail.
    _randomise_head(model)
    with torch.no_grad():
        assert (model(image) - trunk(image)).abs().max() > 1e-3


def test_official_head_default_init_is_not_identity() -> None:
    config = RWSREDLConfig(rrdb=SMALL_TRUNK, head=EDLHeadConfig(variant="official", init="default"))
    model = RWSREDL(config).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 8, 8), return_terms=True)
    assert (out.sr - out.intermediate).abs().max() > 1e-3
    torch.testing.assert_close(out.mask.sum(dim=1), torch.ones(1, 32, 32))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_identity_head_still_learns(variant: str) -> None:
    """The zero-initialised convs (the ones that make the head an identity) receive gradients
    at step 0, so training moves the head away from the identity (no dead start)."""
    model = RWSREDL(RWSREDLConfig(rrdb=SMALL_TRUNK, head=EDLHeadConfig(variant=variant)))
    zeroed = [n for n, p in model.head.named_parameters() if n.endswith("weight") and not p.any()]
    assert len(zeroed) >= 7
    out = model(torch.rand(1, 3, 8, 8), return_terms=True)
    (out.term_x.mean() - out.term_y.pow(2).mean() + out.mask[:, 0].pow(3).mean()).backward()
    for name, parameter in model.head.named_parameters():
        if name in zeroed:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_discriminator_shapes() -> None:
    patch = build_model(architecture_config("patchgan"))
    assert patch(torch.rand(2, 3, 128, 128)).shape == (2, 1, 14, 14)
    vgg = build_model(architecture_config("vgg128"))
    assert vgg(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    with pytest.raises(ValueError, match="128x128"):
        vgg(torch.rand(1, 3, 96, 96))


UP_CONV = 64 * 64 * 9 + 64  # one conv_upN of the 64-feature trunk
PAPER_HEAD = 16_729_694 - 16_697_987  # the exclusionary dual-learning head (Table VI)
OFFICIAL_HEAD = 17_286_473 - 16_697_987
UNSHUFFLE = (12 - 3) * 64 * 9  # conv_first's extra inputs per unshuffle-2 step (x4 -> x16: 5x)


_GENERATOR_CASES = [
    ("rrdbnet-x4", 4, 16_697_987),
    ("rrdbnet-x3", 3, 16_697_987 - UP_CONV),  # one up-sampling stage, like x2
    ("rrdbnet-x2", 2, 16_697_987 - UP_CONV),
    ("rrdbnet-x1", 1, 16_697_987 - 2 * UP_CONV),
    ("rrdbnet-x2-unshuffle2", 2, 16_697_987 + UNSHUFFLE),  # Real-ESRGAN x2plus
    ("rrdbnet-x1-unshuffle4", 1, 16_697_987 + 5 * UNSHUFFLE),
    ("rwsr-edl-x4", 4, 16_697_987 + PAPER_HEAD),
    ("rwsr-edl-x3", 3, 16_697_987 - UP_CONV + PAPER_HEAD),
    ("rwsr-edl-x2", 2, 16_697_987 - UP_CONV + PAPER_HEAD),
    ("rwsr-edl-x1", 1, 16_697_987 - 2 * UP_CONV + PAPER_HEAD),
    ("rwsr-edl-x1-unshuffle4", 1, 16_697_987 + 5 * UNSHUFFLE + PAPER_HEAD),
    ("rwsr-edl-official-x4", 4, 16_697_987 + OFFICIAL_HEAD),
    ("rwsr-edl-official-x1", 1, 16_697_987 - 2 * UP_CONV + OFFICIAL_HEAD),
    ("compact-x4", 4, 1_213_296),  # Real-ESRGAN realesr-general-x4v3's SRVGGNetCompact
]


@pytest.mark.parametrize(("name", "scale", "count"), _GENERATOR_CASES)
def test_every_builtin_generator_has_its_size_and_scale(name: str, scale: int, count: int) -> None:
    model = build_model(architecture_config(name)).eval()
    assert sum(p.numel() for p in model.parameters()) == count
    with torch.no_grad():
        assert model(torch.rand(1, 3, 8, 12)).shape == (1, 3, 8 * scale, 12 * scale)


def test_every_builtin_name_is_tested() -> None:
    tested = {name for name, _, _ in _GENERATOR_CASES} | {"patchgan", "vgg128"}
    assert tested == set(BUILTIN_ARCHITECTURES)


def test_dense_block_convs_start_with_esrgans_scaled_kaiming_init() -> None:
    """The authors' initialize_weights(..., 0.1): std 0.1 * sqrt(2 / fan_in), zero bias; a
    model trained from scratch (AIM 2019) starts from it (PyTorch's default std is ~4x)."""
    torch.manual_seed(0)
    model = RRDBNet(RRDBNetConfig(nb=2))
    for name, conv in model.body[1].rdb2.named_children():
        if not isinstance(conv, torch.nn.Conv2d):
            continue
        fan_in = conv.weight[0].numel()
        expected = 0.1 * (2 / fan_in) ** 0.5
        assert abs(conv.weight.std().item() / expected - 1) < 0.05, name
        assert not conv.bias.any(), name
