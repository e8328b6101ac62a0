"""The settings of one distillation (`rwsr distill`): typed, frozen, checked before any work.

Light on purpose (no torch): the command line reads its option defaults and help texts from
these fields, so the two never disagree. Stored in every distillation checkpoint; a resumed
run must keep the recipe (rwsr.train.distill.RESUMABLE_CHANGES aside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rwsr.errors import ConfigError


class DistillConfig(BaseModel):
    """Teacher, photos, student and training of one distillation; see rwsr.train.distill."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    teacher: str = Field(description="Zoo name or model file of the slow model to copy.")
    photos: tuple[Path, ...] = Field(description="Photo files and/or folders.")
    output: Path = Field(description="Run folder.")
    student: str | None = Field(
        None,
        description="Architecture name (random start, e.g. compact-x4, rrdbnet-x4) or a zoo"
        " name / model file whose weights start the student (any architecture rwsr or spandrel"
        " builds); without it, Real-ESRGAN's compact network at the teacher's scale.",
    )
    cache: Path | None = Field(
        None,
        description="Folder of the teacher's outputs, reusable by other runs"
        " (default: RUN/teacher-cache).",
    )
    crop: int = Field(64, ge=16, le=1024, description="Side of a photo crop (input pixels).")
    crops_per_photo: int = Field(8, ge=1, le=100_000, description="Crops drawn from each photo.")
    max_cache_mb: float = Field(
        2048,
        gt=0,
        description="Bound on the teacher cache (MB): fewer crops per photo beyond it.",
    )
    iterations: int = Field(2000, ge=1, le=100_000_000, description="Training steps.")
    batch_size: int = Field(8, ge=1, le=4096, description="Crops per step.")
    # Real-ESRNet's rate and betas (Real-ESRGAN's train_realesrnet_x4plus.yml).
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate.")
    # Adam's first steps move every weight by about the full rate: one step at 1e-4 raised a
    # trained compact start's L1 to realesrgan-x4plus's outputs on two 32 px City100 crops from
    # 0.023 to 0.040 (5 steps at 1e-5: 0.017). A linear ramp lets its moment estimates settle.
    warmup: int = Field(
        100, ge=0, le=100_000_000, description="Steps of linear learning-rate warm-up (0: none)."
    )
    # A window of ~100 steps. Real-ESRGAN's 0.999 suits runs of 100k+ steps: after 2000 its
    # average would still hold 13% (0.999**2000) of the first step's weights.
    ema_decay: float = Field(0.99, ge=0, lt=1, description="Decay of the exported EMA.")
    perceptual: float = Field(
        0.0, ge=0, le=1e6, description="Weight of the perceptual loss beside L1's 1 (0: off)."
    )
    perceptual_net: Literal["vgg19", "vgg16"] = Field(
        "vgg19", description="Network of the perceptual loss (last conv before ReLU)."
    )
    vgg_weights: Path | None = Field(
        None, description="Local torchvision ImageNet weights of --perceptual-net."
    )
    # Tests only: a random VGG instead of ImageNet weights (never from the command line).
    allow_random_vgg: bool = False
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Teacher and training precision: auto = bf16 where the hardware runs it"
        " natively (AMX, AVX512-BF16, GPUs), else fp32.",
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    dtype: Literal["float16", "float32"] = Field(
        "float16", description="Weights of the exported student (the zoo's float16: half size)."
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed of crops, batches and start.")
    checkpoint_every: int = Field(250, ge=1, description="Steps between checkpoints.")


def distill_config(**options: Any) -> DistillConfig:
    """A DistillConfig; a bad value is one ConfigError line naming its command-line option."""
    try:
        return DistillConfig(**options)
    except ValidationError as error:
        first = error.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        raise ConfigError(f"{option}: {first['msg']} (got {first.get('input')!r})") from None
