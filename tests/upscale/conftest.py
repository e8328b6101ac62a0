from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rwsr.models.checkpoint import save_model
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

TINY = RRDBNetConfig(nf=8, nb=1, gc=4)


@pytest.fixture
def tiny_model() -> RRDBNet:
    """A small random x4 RRDBNet: same code paths as the real one, milliseconds per tile."""
    torch.manual_seed(0)
    return RRDBNet(TINY).eval()


@pytest.fixture
def tiny_model_file(tiny_model: RRDBNet, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.safetensors"
    save_model(tiny_model, path)
    return path


class NearestX4(torch.nn.Module):
    """Pixel replication as a 'generator': outputs are predictable to the last bit, so file
    tests can check that values survive the round trip exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=4)
        self.unit = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x * self.unit, scale_factor=4, mode="nearest")


@pytest.fixture
def nearest_model() -> NearestX4:
    return NearestX4()
