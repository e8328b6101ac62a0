"""Convolution + activation fusion for CPU inference: same images, caller's model untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rwsr.device import cpu_has_native_bf16
from rwsr.models.catalog import architecture_config, build_model
from rwsr.models.checkpoint import load_weights_into
from rwsr.models.edl import RWSREDL, EDLHeadConfig, RWSREDLConfig
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.upscale import fusion
from rwsr.upscale.engine import Upscaler
from rwsr.upscale.fusion import FusedConv2d, fuse_activations

CPU = torch.device("cpu")
# oneDNN fuses bf16 convolutions only where the CPU computes bf16 (AMX or AVX512-BF16); elsewhere
# fusion is refused for bf16 (tested below) and the bf16 cases have nothing to compare.
NATIVE_BF16 = cpu_has_native_bf16()
needs_native_bf16 = pytest.mark.skipif(
    not NATIVE_BF16, reason="this CPU has no native bf16 (AMX or AVX512-BF16)"
)


def _run(model: torch.nn.Module, image: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    x = x.to(dtype=dtype, memory_format=torch.channels_last)
    with torch.inference_mode():
        return model(x).float()


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    """The RWSR-EDL x4 generator on the default model's trained trunk (head at its identity
    initialisation, seed 0), so activations have realistic signs and the head is fused too."""
    torch.manual_seed(0)
    model = build_model(architecture_config("rwsr-edl-x4"))
    load_weights_into(model, load_generator(DEFAULT_MODEL).model.state_dict(), strict=False)
    return model.eval().to(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    [(torch.float32, 2e-5), pytest.param(torch.bfloat16, None, marks=needs_native_bf16)],
)
def test_fused_generator_gives_the_same_image(
    trained: torch.nn.Module,
    photo_rgb: np.ndarray,
    dtype: torch.dtype,
    tolerance: float | None,
) -> None:
    image = photo_rgb[:40, :48]
    plain = copy.deepcopy(trained).to(dtype)
    fused = copy.deepcopy(plain)
    assert fuse_activations(fused, CPU, dtype)
    # 23 RRDBs x 3 dense blocks x 4 convs, 2 up-sampling convs + conv_hr, 9 head ResBlocks.
    assert sum(isinstance(m, FusedConv2d) for m in fused.modules()) == 276 + 3 + 9
    expected, got = _run(plain, image, dtype), _run(fused, image, dtype)
    if tolerance is not None:
        assert (got - expected).abs().max() <= tolerance
    else:  # bf16 rounds once after conv + activation instead of twice: compare against fp32
        reference = _run(trained, image, torch.float32).clamp(0, 1)
        mse = ((got.clamp(0, 1) - reference) ** 2).mean().item()
        assert 10 * np.log10(1 / mse) >= 45


def test_official_head_is_fused_too(photo_rgb: np.ndarray) -> None:
    torch.manual_seed(0)
    config = RWSREDLConfig(
        rrdb=RRDBNetConfig(nf=16, nb=1, gc=8),
        head=EDLHeadConfig(variant="official", init="default"),
    )
    plain = RWSREDL(config).eval().to(memory_format=torch.channels_last)
    fused = copy.deepcopy(plain)
    assert fuse_activations(fused, CPU, torch.float32)
    assert fuse_activations(fused, CPU, torch.float32)  # a second call changes nothing
    assert sum(isinstance(m, FusedConv2d) for m in fused.modules()) == 12 + 3 + 3 * 3 * 2
    image = photo_rgb[:24, :32]
    assert (
        _run(fused, image, torch.float32) - _run(plain, image, torch.float32)
    ).abs().max() < 1e-5


def test_the_callers_model_is_never_changed(trained: torch.nn.Module) -> None:
    model = copy.deepcopy(trained).train().to(memory_format=torch.contiguous_format)
    model.requires_grad_(True)
    keys = list(model.state_dict())
    for precision in ("fp32", "bf16"):
        upscaler = Upscaler(model, precision=precision)
        fused = any(isinstance(m, FusedConv2d) for m in upscaler._fast.modules())
        assert fused == (precision == "fp32" or NATIVE_BF16)
    assert not any(isinstance(m, FusedConv2d) for m in model.modules())
    assert list(model.state_dict()) == keys
    assert model.training and all(p.requires_grad for p in model.parameters())
    weight = model.rrdb.conv_first.weight
    assert weight.is_contiguous() and weight.dtype == torch.float32


def test_without_the_fused_call_the_model_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch, photo_rgb: np.ndarray
) -> None:
    monkeypatch.setattr(fusion, "fused_call_works", lambda dtype: False)
    torch.manual_seed(0)
    model = RWSREDL(RWSREDLConfig(rrdb=RRDBNetConfig(nf=8, nb=1, gc=4))).eval()
    untouched = copy.deepcopy(model)
    assert not fuse_activations(model, CPU, torch.float32)
    assert str(model) == str(untouched)
    upscaler = Upscaler(model, precision="fp32")
    assert not any(isinstance(m, FusedConv2d) for m in upscaler._fast.modules())
    assert upscaler.upscale(photo_rgb[:16, :16]).shape == (64, 64, 3)


def test_the_fused_call_is_checked_against_conv_and_activation() -> None:
    assert fusion.fused_call_works(torch.float32)  # PyTorch's oneDNN build has it
    # bf16: where the CPU lacks bf16 units oneDNN has no fused kernel, and the check says so
    assert fusion.fused_call_works(torch.bfloat16) == NATIVE_BF16


def test_the_check_leaves_the_callers_random_stream_alone() -> None:
    fusion.fused_call_works.cache_clear()
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    fusion.fused_call_works(torch.float32)
    assert torch.equal(torch.rand(4), expected)
