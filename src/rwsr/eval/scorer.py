"""The metrics of one SR image against its HR image, under one stated convention.

`MetricSettings` is the convention (what every report prints); `Scorer` applies it, holding
the LPIPS network so that it is loaded once per evaluation. Training's validation
(rwsr.train.validation) scores with the same Scorer, so its numbers are `rwsr evaluate`'s.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rwsr.errors import ConfigError, InputError
from rwsr.metrics.color import Channels
from rwsr.metrics.lpips import EVALUATE_OPTIONS, NET_NAMES

Metric = Literal["psnr", "ssim", "lpips", "niqe"]
METRICS: tuple[Metric, ...] = ("psnr", "ssim", "lpips", "niqe")


class Column(BaseModel):
    """One reported number: key in CSV/JSON, label in tables, and which direction is better."""

    model_config = ConfigDict(frozen=True)
    key: str
    label: str
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


class MetricSettings(BaseModel):
    """How the numbers are computed; the defaults are the paper's protocol (DESIGN §5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scale: int = Field(4, ge=1, description="SR scale of the test set")
    crop_border: int = Field(4, ge=0, description="pixels removed from each edge; = scale")
    metrics: tuple[Metric, ...] = METRICS
    channels: tuple[Channels, ...] = ("y", "rgb")
    lpips_net: Literal["alex", "vgg"] = "alex"
    lpips_backbone: str | None = Field(None, description="weights file, None (torch cache), random")
    niqe_luma: Literal["y", "gray"] = "y"
    device: str = "cpu"

    @field_validator("metrics", "channels")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one")
        return tuple(dict.fromkeys(value))

    def columns(self) -> list[Column]:
        """The reported columns in table order: PSNR, SSIM (Y then RGB), LPIPS, NIQE."""
        columns = []
        for metric, higher in (("psnr", True), ("ssim", True)):
            if metric in self.metrics:
                for channel in self.channels:
                    label = f"{metric.upper()} ({channel.upper() if channel == 'y' else 'RGB'})"
                    columns.append(
                        Column(key=f"{metric}_{channel}", label=label, higher_is_better=higher)
                    )
        if "lpips" in self.metrics:
            columns.append(Column(key="lpips", label="LPIPS", higher_is_better=False))
        if "niqe" in self.metrics:
            columns.append(Column(key="niqe", label="NIQE", higher_is_better=False))
        return columns

    def conventions(self) -> list[str]:
        """One line per convention, printed in every report."""
        lines = [
            f"Scale x{self.scale}; border crop {self.crop_border} px on every edge before every metric.",
            (
                "Images as stored (uint8, or uint16 / 257), metrics in float64 on the 0-255"
                " scale; data set values are means of per-image values."
            ),
        ]
        if {"psnr", "ssim"} & set(self.metrics):
            lines.append(
                "PSNR/SSIM channels: "
                + ", ".join(
                    "RGB"
                    if c == "rgb"
                    else "Y = BT.601 luma on 16-235 (MATLAB rgb2ycbcr, unrounded)"
                    for c in self.channels
                )
                + "."
            )
        if "ssim" in self.metrics:
            lines.append(
                "SSIM: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, valid region; RGB SSIM is the mean of the channels."
            )
        if "lpips" in self.metrics:
            backbone = (
                "RANDOM BACKBONE - test values only, not comparable"
                if self.lpips_backbone == "random"
                else "ImageNet backbone"
            )
            lines.append(
                f"LPIPS: {NET_NAMES[self.lpips_net]} v0.1 ({backbone}), RGB inputs scaled to [-1, 1]."
            )
        if "niqe" in self.metrics:
            luma = "Y (BT.601, 16-235)" if self.niqe_luma == "y" else "MATLAB rgb2gray"
            lines.append(
                f"NIQE: {luma} rounded to integers, 96x96 blocks, two scales (MATLAB bicubic), "
                "pristine model of the MATLAB release (via BasicSR); lower is better."
            )
        return lines


def settings_from_options(**options: object) -> MetricSettings:
    """MetricSettings from command-line values; a bad value is a ConfigError naming its option."""
    try:
        return MetricSettings.model_validate(options)
    except ValidationError as error:
        first = error.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "option"
        raise ConfigError(f"{option}: {first['msg']}") from None


def split_list(text: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"] (lower case, blanks dropped)."""
    return [part.strip().lower() for part in text.split(",") if part.strip()]


def parse_metrics(text: str) -> tuple[Metric, ...]:
    """`psnr,ssim,lpips,niqe` (any subset, any order) -> metrics in table order."""
    names = split_list(text)
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"--metrics: unknown {unknown or 'empty list'}; valid: {', '.join(METRICS)}"
        )
    return tuple(metric for metric in METRICS if metric in names)


class Scorer:
    """Computes the configured metrics of SR images against HR images."""

    def __init__(
        self, settings: MetricSettings, *, lpips_options: tuple[str, str] = EVALUATE_OPTIONS
    ) -> None:
        """`lpips_options` name the caller's option for a local LPIPS backbone file and its
        way to do without LPIPS (the offline error shows them)."""
        self.settings = settings
        self._lpips = None
        if "lpips" in settings.metrics:
            from rwsr.metrics.lpips import LPIPS

            self._lpips = LPIPS(
                net=settings.lpips_net,
                backbone=settings.lpips_backbone,
                device=settings.device,
                options=lpips_options,
            )

    def score(self, sr: np.ndarray, hr: np.ndarray) -> dict[str, float]:
        """The full-reference metrics of one SR image; raises InputError on a size mismatch."""
        if sr.shape[:2] != hr.shape[:2]:
            raise InputError(
                f"SR is {sr.shape[1]}x{sr.shape[0]} but HR is {hr.shape[1]}x{hr.shape[0]}"
            )
        from rwsr.metrics.psnr_ssim import psnr, ssim

        s = self.settings
        values: dict[str, float] = {}
        for channel in s.channels:
            if "psnr" in s.metrics:
                values[f"psnr_{channel}"] = float(
                    psnr(sr, hr, crop_border=s.crop_border, channels=channel)
                )
            if "ssim" in s.metrics:
                values[f"ssim_{channel}"] = float(
                    ssim(sr, hr, crop_border=s.crop_border, channels=channel, device=s.device)
                )
        if self._lpips is not None:
            values["lpips"] = float(self._lpips(sr, hr, crop_border=s.crop_border))
        return values

    def no_reference(self, image: np.ndarray) -> dict[str, float]:
        """The no-reference metrics (NIQE) of one image (SR or HR); InputError if too small."""
        if "niqe" not in self.settings.metrics:
            return {}
        from rwsr.metrics.niqe import niqe

        value = niqe(
            image,
            crop_border=self.settings.crop_border,
            convert_to=self.settings.niqe_luma,
            device=self.settings.device,
        )
        return {"niqe": float(value)}
