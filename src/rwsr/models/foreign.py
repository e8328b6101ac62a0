"""Community architectures (SwinIR, HAT, DAT, SPAN, PLKSR, ...) through spandrel.

spandrel (MIT; the loader behind chaiNNer and ComfyUI) detects an architecture from a state
dict and builds it. rwsr asks it only for key sets its own loader does not know (Real-ESRGAN
Compact is rwsr's own too: rwsr.models.compact): the ESRGAN/RRDB family stays with rwsr's
loader because that one reads every size from the shapes (spandrel builds RRDBNet with growth
channels fixed at 32, so rwsr's own 16-channel models would not load), tells x3 from x2 with
`--scale`, loads RWSR-EDL heads, and gives the fused RRDBNet the upscale engine and the
trainer are built around. The state dict reaches spandrel
only after rwsr's weights-only read: a pickle that carries code is refused before detection.
"""

from __future__ import annotations

import os
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from rwsr.errors import CheckpointError

SPANDREL_VERSION = "0.4.2"  # pinned in pyproject: detection rules change between releases


class SpandrelConfig(BaseModel):
    """What spandrel's descriptor says of a model; stored in rwsr safetensors so a converted
    file says what it is (rebuilding still needs spandrel to detect the weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["spandrel"] = "spandrel"
    architecture: str
    scale: int
    in_channels: int
    out_channels: int
    purpose: str
    tags: tuple[str, ...] = ()
    supports_half: bool
    supports_bfloat16: bool


class SpandrelGenerator(nn.Module):
    """A spandrel image model as an rwsr generator: (N, 3, H, W) in [0, 1] to (N, 3, sH, sW).

    The descriptor's call pads the input to the architecture's size requirements (window
    multiples, minimum size) and crops the output; its model is this module's `net`, so
    `.to()`, `copy.deepcopy` and `state_dict()` act on the weights the call uses.
    """

    def __init__(self, descriptor: object, config: SpandrelConfig) -> None:
        super().__init__()
        self.config = config
        self.net = descriptor.model  # type: ignore[attr-defined]
        self.descriptor = descriptor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)  # type: ignore[operator]


def load_spandrel(
    state: dict[str, torch.Tensor], path: str | os.PathLike[str]
) -> SpandrelGenerator | None:
    """The model spandrel detects in `state`, or None when no architecture matches."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError:
        return None
    except Exception as error:  # noqa: BLE001 - an architecture matched but its weights did not
        raise CheckpointError(
            f"{path}: spandrel detected an architecture but cannot load the weights ({error})"
        ) from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, ImageModelDescriptor):
        raise CheckpointError(
            f"{path}: a {name} model ({type(descriptor).__name__}), which takes more than an"
            " image (e.g. an inpainting mask); rwsr runs image-to-image models"
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise CheckpointError(
            f"{path}: a {name} model with {descriptor.input_channels} input and"
            f" {descriptor.output_channels} output channels; rwsr runs RGB (3-channel) models"
        )
    config = SpandrelConfig(
        architecture=name,
        scale=descriptor.scale,
        in_channels=descriptor.input_channels,
        out_channels=descriptor.output_channels,
        purpose=descriptor.purpose,
        tags=tuple(descriptor.tags),
        supports_half=descriptor.supports_half,
        supports_bfloat16=descriptor.supports_bfloat16,
    )
    return SpandrelGenerator(descriptor, config).eval()


def supported_precision(config: SpandrelConfig, dtype: torch.dtype) -> bool:
    """Whether the architecture is safe in `dtype` (spandrel marks e.g. fp16 overflow)."""
    if dtype == torch.float16:
        return config.supports_half
    if dtype == torch.bfloat16:
        return config.supports_bfloat16
    return True
