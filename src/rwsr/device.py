"""Choosing the device and the compute precision.

`auto` precision is the fastest one the hardware runs natively: bf16 on CUDA GPUs of compute
capability 8.0 and up (A100, RTX 30xx, H100) and on CPUs with AMX or AVX512-BF16; fp16 on CUDA
GPUs of capability 7.x (V100, T4), whose tensor cores run fp16 but not bf16 (training scales
fp16 gradients with a GradScaler); fp32 elsewhere (older GPUs, Apple MPS, other CPUs).
Emulated bf16 is slower than fp32 (on a V100, for one), so `torch.cuda.is_bf16_supported()`,
which counts emulation, is not the test. fp16 is refused on the CPU (slow, and a source of NaN
images in peers); any tile that comes out non-finite is recomputed in fp32 anyway.
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


def native_bf16(device: torch.device) -> bool:
    """True where bf16 runs in hardware, not emulated: CUDA capability 8.0 and up, or a CPU
    with AMX-BF16 or AVX512-BF16."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """`auto` -> the native precision of the module docstring; explicit names are checked."""
    if name == "auto":
        if native_bf16(device):
            return torch.bfloat16
        if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] == 7:
            return torch.float16  # Volta and Turing: fp16 tensor cores, no bf16
        return torch.float32
    if name not in PRECISIONS:
        raise ConfigError(f"--precision must be auto, {', '.join(PRECISIONS)}; got '{name}'")
    if name == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 is not supported on the CPU; use bf16 or fp32")
    return PRECISIONS[name]
