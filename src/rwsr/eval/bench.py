"""The paper's Table VI as a measurement: parameters and frames per second of each model on a
300x200 input (paper: RWSR-EDL 16,729,694 parameters, 0.7632 frame/s on a V100), for every
device and precision this machine has, with the library versions that produced the numbers.

A frame is one full `Upscaler.upscale` call on a uint8 image in one tile: host to device,
network, device to host, as a user sees it. The time is the median of `repeats` runs after
`warmup` runs (the first call pays for allocations and kernel selection).
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rwsr.errors import ConfigError

PAPER_SIZE = (300, 200)  # width, height of the paper's Table VI input
FRAME_NOTE = (
    "A frame is one `Upscaler.upscale` call on a uint8 image in a single tile (host to device,"
    " network, back); median of the timed runs after warm-up."
)
PAPER_NOTE = (
    "Paper (Table VI): RWSR-EDL 16,729,694 parameters, 0.7632 frame/s on a 300x200 input on an"
    " NVIDIA V100."
)


@dataclass(frozen=True)
class Target:
    device: str
    precision: str


@dataclass(frozen=True)
class BenchResult:
    model: str
    parameters: int
    device: str
    device_name: str
    precision: str
    width: int
    height: int
    scale: int
    seconds: float  # median seconds per frame
    frames_per_second: float
    runs: int


def targets(devices: list[str] | None = None, precisions: list[str] | None = None) -> list[Target]:
    """Device x precision pairs to measure; None = every one this machine runs natively."""
    from rwsr.device import native_bf16, resolve_device

    if devices is None:
        devices = ["cpu"]
        if torch.cuda.is_available():
            devices.append("cuda")
        if torch.backends.mps.is_available():
            devices.append("mps")
    chosen = []
    for name in devices:
        device = resolve_device(name)  # raises ConfigError for unavailable devices
        native = ["fp32"] + (["fp16"] if device.type == "cuda" else [])
        native += ["bf16"] if native_bf16(device) else []
        for precision in precisions or native:
            if precision == "fp16" and device.type == "cpu":
                raise ConfigError("--precision fp16 is not supported on the CPU; use bf16 or fp32")
            chosen.append(Target(str(device), precision))
    return chosen


def device_name(device: str) -> str:
    """A human name of the device: the GPU model, or the CPU model with its thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def environment() -> dict[str, str]:
    """Versions and machine facts printed beside every benchmark."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": device_name("cpu"),
    }
    for package in ("torchvision", "rwsr"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    if torch.cuda.is_available():
        info["cuda"] = str(torch.version.cuda)
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parse_size(text: str) -> tuple[int, int]:
    """--size WIDTHxHEIGHT -> (width, height), at most the pixels `rwsr upscale` accepts by
    default: the input is allocated (and upscaled in one tile) before the first timing."""
    from rwsr.upscale.engine import DEFAULT_MAX_PIXELS

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must be WIDTHxHEIGHT, like 300x200, but got {text!r}") from None
    if width < 1 or height < 1:
        raise ConfigError(f"--size must be positive, but got {text!r}")
    if width * height > DEFAULT_MAX_PIXELS:
        raise ConfigError(
            f"--size {text}: {width * height / 1e6:.1f} MPix is above the limit of"
            f" {DEFAULT_MAX_PIXELS / 1e6:.0f} MPix; the paper measures 300x200"
        )
    return width, height


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def bench_model(
    name: str,
    model: nn.Module,
    target: Target,
    *,
    size: tuple[int, int] = PAPER_SIZE,
    repeats: int = 3,
    warmup: int = 1,
) -> BenchResult:
    """Seconds per frame of `model` on a seeded random uint8 image of size (width, height)."""
    from rwsr.upscale.engine import Upscaler

    if repeats < 1 or warmup < 0:
        raise ConfigError(f"--repeats must be >= 1 and --warmup >= 0, got {repeats}, {warmup}")
    parameters = count_parameters(model)
    width, height = size
    upscaler = Upscaler(
        model, device=target.device, precision=target.precision, tile=max(width, height, 32)
    )
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    for _ in range(warmup):
        upscaler.upscale(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        upscaler.upscale(image)  # returns a host array: the device has finished
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return BenchResult(
        model=name,
        parameters=parameters,
        device=target.device,
        device_name=device_name(target.device),
        precision=target.precision,
        width=width,
        height=height,
        scale=upscaler.scale,
        seconds=seconds,
        frames_per_second=1.0 / seconds,
        runs=repeats,
    )


def bench_markdown(results: list[BenchResult], env: dict[str, str]) -> str:
    lines = [
        "# Efficiency (Table VI)",
        "",
        "| Model | Parameters | Device | Precision | Input | Seconds / frame | Frames / s |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.model} | {r.parameters:,} | {r.device} ({r.device_name}) | {r.precision} |"
            f" {r.width}x{r.height} (x{r.scale}) | {r.seconds:.3f} | {r.frames_per_second:.4f} |"
        )
    lines += [
        "",
        FRAME_NOTE,
        PAPER_NOTE,
        "",
        "Environment: " + "; ".join(f"{k} {v}" for k, v in env.items()),
    ]
    return "\n".join(lines) + "\n"


def bench_json(results: list[BenchResult], env: dict[str, str]) -> dict[str, object]:
    return {"environment": env, "results": [asdict(r) for r in results]}
