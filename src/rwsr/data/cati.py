"""The Confidence Interval of noise (CATI, paper Sec. III-E, Alg. 1).

The flattest patches of a data set show its noise: their luma variance is mostly noise and
their mean tells at which brightness it was measured. CATI = the [min, max] interval of the
variance and of the mean over the `percentile`% patches of lowest variance. A patch is in
the CATI when its variance and its mean both lie inside (bounds included).

With few patches the bottom percentile can shrink to a single patch and the CATI to a point;
`min_patches` sets how many patches must stand behind it, and `too_few` says whether to widen
the selection to that many (recorded in the result) or refuse.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rwsr.errors import InputError


class NoiseSamplingConfig(BaseModel):
    """Noise sampling settings; defaults: 256 px windows (Impressionism), bottom 2% (paper)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patch: int = Field(256, ge=8, description="window side s; windows are s x s at stride s")
    percentile: float = Field(2.0, gt=0, le=100, description="bottom % of patches by variance")
    exclude_clipped: bool = Field(True, description="leave out patches with 0 or max samples")
    min_patches: int = Field(8, ge=1, description="patches that must stand behind the CATI")
    too_few: Literal["widen", "refuse"] = Field(
        "widen", description="when the percentile selects fewer than min_patches"
    )


class Cati(BaseModel):
    """Variance and mean intervals (luma, 0-255 scale) and how they were found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variance: tuple[float, float]
    mean: tuple[float, float]
    percentile: float = Field(description="requested bottom percentile")
    selected: int = Field(description="patches the intervals were taken over")
    candidates: int = Field(description="usable patches the selection was made from")
    widened: bool = Field(False, description="selection widened to min_patches")

    @property
    def effective_percentile(self) -> float:
        return 100.0 * self.selected / self.candidates

    def contains(self, variance: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Boolean mask of the patches inside both intervals."""
        return (
            (variance >= self.variance[0])
            & (variance <= self.variance[1])
            & (mean >= self.mean[0])
            & (mean <= self.mean[1])
        )

    def describe(self) -> str:
        text = (
            f"variance [{self.variance[0]:.3f}, {self.variance[1]:.3f}], "
            f"mean [{self.mean[0]:.2f}, {self.mean[1]:.2f}] (luma 0-255) from the "
            f"{self.selected} lowest-variance of {self.candidates} patches"
        )
        return text + (f", widened from {self.percentile:g}%" if self.widened else "")


def compute_cati(
    variance: np.ndarray, mean: np.ndarray, *, config: NoiseSamplingConfig | None = None
) -> Cati:
    """CATI over candidate patches (already filtered for clipping by the caller)."""
    config = config or NoiseSamplingConfig()
    candidates = int(variance.size)
    if candidates == 0:
        raise InputError(
            "no usable patches to estimate the noise from (every image was too small, "
            "unreadable, or every patch was clipped); use a smaller --patch or "
            "--keep-clipped"
        )
    selected = math.ceil(candidates * config.percentile / 100.0)
    widened = False
    if selected < config.min_patches:
        if config.too_few == "refuse" or candidates < config.min_patches:
            raise InputError(
                f"the bottom {config.percentile:g}% of {candidates} patches is {selected} "
                f"patch(es), fewer than the {config.min_patches} required behind a CATI; "
                "add images, use a smaller --patch, a larger --percentile or a smaller "
                "--min-patches"
                + ("" if config.too_few == "refuse" else f" (only {candidates} exist)")
            )
        selected, widened = config.min_patches, True
    order = np.argsort(variance, kind="stable")[:selected]
    return Cati(
        variance=(float(variance[order].min()), float(variance[order].max())),
        mean=(float(mean[order].min()), float(mean[order].max())),
        percentile=config.percentile,
        selected=selected,
        candidates=candidates,
        widened=widened,
    )
