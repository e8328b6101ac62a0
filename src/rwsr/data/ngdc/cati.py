"""The CharAcTeristic Interval of noise (CATI, paper Sec. III-E, Alg. 1).

The flattest patches of a data set show its noise: their luma variance is mostly noise and
their mean tells at which brightness it was measured. CATI = the [min, max] interval of the
variance and of the mean over the `percentile`% patches of lowest variance. A patch is in
the CATI when its variance and its mean both lie inside (bounds included).

With few patches the bottom percentile can shrink to a single patch and the CATI to a point;
`min_patches` sets how many patches must stand behind it, and `too_few` says whether to widen
the selection to that many (recorded in the result) or refuse.

`max_variance` replaces the CATI by the fixed rule of Impressionism, with which the authors
built the noise bank of their released models (their collect_noise.py: 256 px windows,
variance < 20 and mean > 0 for DF2K, mean > 50 for DPED). rwsr applies it to BT.601 luma;
PIL's integer 'L' luma that they used adds about 1/12 to each variance.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    max_variance: float | None = Field(
        None, gt=0, description="fixed rule instead of the CATI: variance below this"
    )
    min_mean: float = Field(0.0, ge=0, le=255, description="with max_variance: mean above this")

    @model_validator(mode="after")
    def _min_mean_needs_the_fixed_rule(self) -> NoiseSamplingConfig:
        if self.min_mean and self.max_variance is None:
            raise ValueError("min_mean belongs to the fixed rule: give max_variance too")
        return self


class Cati(BaseModel):
    """Variance and mean intervals (luma, 0-255 scale) and how they were found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variance: tuple[float, float]
    mean: tuple[float, float]
    percentile: float = Field(description="requested bottom percentile")
    selected: int = Field(description="patches the intervals were taken over")
    candidates: int = Field(description="usable patches the selection was made from")
    widened: bool = Field(False, description="selection widened to min_patches")
    rule: Literal["cati", "fixed"] = Field("cati", description="fixed: max_variance/min_mean")

    def contains(self, variance: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Boolean mask of the patches inside both intervals."""
        return (
            (variance >= self.variance[0])
            & (variance <= self.variance[1])
            & (mean >= self.mean[0])
            & (mean <= self.mean[1])
        )

    def how_to_widen(self) -> str:
        """The option that lets more patches in."""
        if self.rule == "fixed":
            return "raise --max-variance or lower --min-mean"
        return "raise --percentile"

    def describe(self) -> str:
        if self.rule == "fixed":
            return (
                f"fixed rule: variance < {self.variance[1]:.3f}, mean > {self.mean[0]:.2f} "
                f"(luma 0-255), met by {self.selected} of {self.candidates} patches"
            )
        text = (
            f"variance [{self.variance[0]:.3f}, {self.variance[1]:.3f}], "
            f"mean [{self.mean[0]:.2f}, {self.mean[1]:.2f}] (luma 0-255) from the "
            f"{self.selected} lowest-variance of {self.candidates} patches"
        )
        return text + (f", widened from {self.percentile:g}%" if self.widened else "")


def compute_cati(
    variance: np.ndarray, mean: np.ndarray, *, config: NoiseSamplingConfig | None = None
) -> Cati:
    """CATI over candidate patches (already filtered for clipping by the caller), or the
    fixed rule when `config.max_variance` is set."""
    config = config or NoiseSamplingConfig()
    candidates = int(variance.size)
    if candidates == 0:
        raise InputError(
            "no usable patches to estimate the noise from (every image was too small, "
            "unreadable, or every patch was clipped); use a smaller --patch or "
            "--keep-clipped"
        )
    if config.max_variance is not None:
        # Strict bounds, stored as the nearest inclusive ones.
        fixed = Cati(
            variance=(0.0, float(np.nextafter(config.max_variance, -np.inf))),
            mean=(float(np.nextafter(config.min_mean, np.inf)), 255.0),
            percentile=100.0,
            selected=0,
            candidates=candidates,
            rule="fixed",
        )
        return fixed.model_copy(update={"selected": int(fixed.contains(variance, mean).sum())})
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
