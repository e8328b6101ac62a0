"""What a model costs on a CPU: FLOPs per input pixel, and the time of a run told before it
starts, with a faster zoo model named when the run would be long (never switched to).

FLOPs are counted by torch's FlopCounterMode on the meta device (no memory, no compute):
convolutions and matrix products, 2 per multiply-add; the pointwise work is left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.flop_counter import FlopCounterMode

from rwsr.errors import InputError
from rwsr.imageio import image_size
from rwsr.models.catalog import ModelConfig, build_model
from rwsr.models.foreign import SpandrelConfig
from rwsr.models.zoo import ZOO, cpu_seconds_per_megapixel, speed_basis, zoo_entry

if TYPE_CHECKING:
    from rwsr.upscale.engine import Upscaler

# A run estimated longer than this gets one line naming a faster zoo model.
LONG_RUN_SECONDS = 120.0
_PROBE = 16  # probe input side: a multiple of every pixel-unshuffle factor


def flops_per_pixel(config: ModelConfig) -> int:
    """Convolution FLOPs per input pixel of the generator `config` describes."""
    if isinstance(config, SpandrelConfig):
        raise TypeError("a spandrel model is built from its weights, not from a config")
    with torch.device("meta"):
        model = build_model(config).eval()
        probe = torch.empty(1, 3, _PROBE, _PROBE)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(probe)
    return counter.get_total_flops() // _PROBE**2


def _image_sizes(paths: Iterable[str | os.PathLike[str]]) -> Iterable[tuple[int, int]]:
    """(width, height) of the images at `paths`, from their headers; unreadable files are
    left out (the run reports them)."""
    for path in paths:
        try:
            yield image_size(path)
        except InputError:
            continue


@dataclass(frozen=True)
class RunSize:
    megapixels: float  # of the input images
    # What the network runs on: a tiled image's tile windows (the tiles with their context,
    # overlapping) hold more pixels than the image; a one-tile image counts its own.
    network_megapixels: float


def run_size(paths: Iterable[str | os.PathLike[str]], upscaler: Upscaler) -> RunSize:
    """Input and network megapixels of upscaling the images at `paths` with `upscaler` (its
    tiling, Upscaler.network_pixels); unreadable files count 0 (the run reports them)."""
    sizes = list(_image_sizes(paths))
    network = sum(upscaler.network_pixels(height, width) for width, height in sizes)
    return RunSize(sum(width * height for width, height in sizes) / 1e6, network / 1e6)


@dataclass(frozen=True)
class RunEstimate:
    seconds: float
    seconds_per_megapixel: float
    basis: str  # where the speed comes from (rwsr.models.zoo.speed_basis)
    advice: str | None  # a faster zoo model, for runs over LONG_RUN_SECONDS


def estimate_run(model: str, config: ModelConfig, megapixels: float) -> RunEstimate | None:
    """CPU time of running `megapixels` through `model` (a zoo name or a file whose generator
    `config` describes): for a tiled image the network megapixels of its windows (run_size);
    None where the cost is unknown (spandrel architectures)."""
    names = {entry.name for entry in ZOO}
    entry = zoo_entry(model) if model in names else None
    if entry is not None:
        flops, speed = entry.flops_per_pixel, entry.cpu_speed
    elif isinstance(config, SpandrelConfig):
        return None
    else:
        flops, speed = flops_per_pixel(config), None
    per_megapixel = cpu_seconds_per_megapixel(flops, speed)
    seconds = megapixels * per_megapixel
    advice = None
    if entry is not None and entry.faster is not None and seconds > LONG_RUN_SECONDS:
        faster = zoo_entry(entry.faster.name)
        faster_seconds = megapixels * cpu_seconds_per_megapixel(
            faster.flops_per_pixel, faster.cpu_speed
        )
        quality = f"; quality: {entry.faster.quality}" if entry.faster.quality else ""
        advice = (
            f"a faster model: --model {faster.name} would take about"
            f" {format_duration(faster_seconds)} ({seconds / faster_seconds:.0f}x faster"
            f"{'' if faster.cpu_speed else ', estimated from FLOPs'}){quality}"
        )
    return RunEstimate(seconds, per_megapixel, speed_basis(speed), advice)


def estimate_line(
    estimate: RunEstimate, megapixels: float, network_megapixels: float | None = None
) -> str:
    """The line `rwsr upscale` prints before a CPU run: `megapixels` of input, and where tiles
    send more through the network, its `network_megapixels` (what the time is counted from)."""
    tiles = (
        f" ({network_megapixels:.1f} MP through the network in tiles)"
        if network_megapixels is not None and network_megapixels > megapixels
        else ""
    )
    return (
        f"estimated time: {format_duration(estimate.seconds)} for {megapixels:.2f} MP of input"
        f"{tiles} at {estimate.seconds_per_megapixel:.0f} s/MP ({estimate.basis}; other CPUs"
        " differ)"
    )


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
