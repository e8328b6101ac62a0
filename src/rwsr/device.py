"""Choosing the device and the compute precision.

`auto` precision is bf16 where the hardware runs it natively (CPUs with AMX or AVX512-BF16,
CUDA GPUs with bf16 support), else fp32. fp16 is refused on the CPU (slow, and a source of
NaN images in peers); any tile that comes out non-finite is recomputed in fp32 anyway.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from rwsr.errors import ConfigError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` -> the first CUDA GPU, else Apple MPS, else the CPU; explicit names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"--device: '{name}' is not a device (use cpu, cuda, cuda:N, mps or auto)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: Apple MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {name}: unsupported device type '{device.type}'")
    return device


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AMX-BF16 or AVX512-BF16 (read from /proc/cpuinfo on Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type == "cpu":
            return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
    if name not in PRECISIONS:
        raise ConfigError(f"--precision must be auto, {', '.join(PRECISIONS)}; got '{name}'")
    if name == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 is not supported on the CPU; use bf16 or fp32")
    return PRECISIONS[name]
