"""Inference-only fusion of convolutions with the activation that follows them, on the CPU.

A bf16 ReLU or LeakyReLU pass costs as much as the convolution before it (the ReLUs on the
head's 64-channel maps at 4x resolution alone take 11% of an x4 frame), while oneDNN applies
it inside the convolution for free. `fuse_activations` rewrites a generator in place: each
convolution followed by an activation becomes one oneDNN call, and the activation module
becomes the identity. It knows the blocks it rewrites (RRDB dense blocks and up-sampling
stages, both heads); the result is for inference only (oneDNN's fused call has no backward).

The fused call is PyTorch's own (`torch.ops.mkldnn._convolution_pointwise`, what
torch.compile emits for the same pattern). It is private, so every use is checked first:
where it is missing or disagrees with the unfused layers, the model is left as it is.

SRVGGNetCompact's PReLUs stay unfused: PReLU has a slope per channel, not LeakyReLU's one,
and the fused call has no such post-op (torch 2.14: attr "prelu" raises "Fusion behavior
undefined"; tests/models/test_compact.py asks it again, to tell when it does).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from rwsr.models.edl import OfficialRB, ResBlock
from rwsr.models.rrdbnet import ResidualDenseBlock, RRDBNet


class FusedConv2d(nn.Module):
    """`activation(conv(x))` in one oneDNN call; activation: 'relu' or 'leaky_relu'."""

    def __init__(self, conv: nn.Conv2d, activation: str, slope: float = 0.0) -> None:
        super().__init__()
        self.conv = conv
        self.activation = activation
        self.scalars = [slope] if activation == "leaky_relu" else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        return torch.ops.mkldnn._convolution_pointwise(
            x,
            conv.weight,
            conv.bias,
            list(conv.padding),
            list(conv.stride),
            list(conv.dilation),
            conv.groups,
            self.activation,
            self.scalars,
            "",
        )


def fuse_activations(model: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    """Fuse `model`'s convolution + activation pairs in place; False (model untouched) where
    oneDNN's fused call is not available for this device and dtype."""
    if device.type != "cpu" or not fused_call_works(dtype):
        return False
    if any(isinstance(module, FusedConv2d) for module in model.modules()):
        return True  # fused already
    for module in list(model.modules()):
        if isinstance(module, ResidualDenseBlock):
            for name in ("conv1", "conv2", "conv3", "conv4"):
                _fuse(module, name, "leaky_relu", module.lrelu.negative_slope)
            module.lrelu = nn.Identity()
        elif isinstance(module, RRDBNet):
            names = [f"conv_up{i}" for i in range(1, len(module.config.upsample_factors) + 1)]
            for name in [*names, "conv_hr"]:
                _fuse(module, name, "leaky_relu", module.lrelu.negative_slope)
            module.lrelu = nn.Identity()
        elif isinstance(module, ResBlock):
            _fuse(module, "conv1", "relu")
            module.relu = nn.Identity()
        elif isinstance(module, OfficialRB):
            first, _, second, activation = module.block
            module.block = nn.Sequential(
                FusedConv2d(first, "leaky_relu", activation.negative_slope),
                FusedConv2d(second, "leaky_relu", activation.negative_slope),
            )
    return True


def _fuse(module: nn.Module, name: str, activation: str, slope: float = 0.0) -> None:
    setattr(module, name, FusedConv2d(getattr(module, name), activation, slope))


@functools.cache
def fused_call_works(dtype: torch.dtype) -> bool:
    """Whether the fused call exists here and matches conv + activation on a small input."""
    with torch.random.fork_rng(devices=[]):  # the check leaves the caller's random stream alone
        torch.manual_seed(0)
        conv = nn.Conv2d(8, 16, 3, 1, 1).to(dtype=dtype, memory_format=torch.channels_last)
        x = torch.randn(1, 8, 12, 10).to(dtype=dtype, memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            expected = nn.functional.leaky_relu(conv(x).float(), 0.2)
            fused = FusedConv2d(conv, "leaky_relu", 0.2)(x).float()
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    return fused.shape == expected.shape and bool(
        torch.allclose(fused, expected, atol=tolerance, rtol=tolerance)
    )
