"""`precision: auto` picks the precision the hardware runs natively, on faked GPUs and CPUs."""

from __future__ import annotations

import pytest
import torch

from rwsr import device as device_module
from rwsr.device import resolve_precision
from rwsr.errors import ConfigError
from rwsr.eval.bench import Target, targets

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


def _fake_cpu(monkeypatch: pytest.MonkeyPatch, *, bf16: bool) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: bf16)


@pytest.mark.parametrize(
    ("capability", "auto", "bench"),
    [
        ((9, 0), torch.bfloat16, ["fp32", "fp16", "bf16"]),  # H100
        ((8, 0), torch.bfloat16, ["fp32", "fp16", "bf16"]),  # A100
        ((7, 5), torch.float16, ["fp32", "fp16"]),  # T4: bf16 only emulated
        ((7, 0), torch.float16, ["fp32", "fp16"]),  # V100: bf16 only emulated
        ((6, 0), torch.float32, ["fp32", "fp16"]),  # P100: no tensor cores
    ],
    ids=["H100", "A100", "T4", "V100", "P100"],
)
def test_auto_on_cuda_follows_the_compute_capability(
    monkeypatch: pytest.MonkeyPatch,
    capability: tuple[int, int],
    auto: torch.dtype,
    bench: list[str],
) -> None:
    _fake_gpu(monkeypatch, capability)
    assert resolve_precision("auto", CUDA) == auto
    assert targets(["cuda"]) == [Target("cuda", precision) for precision in bench]


@pytest.mark.parametrize(("bf16", "auto"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_on_the_cpu_is_bf16_only_with_amx_or_avx512_bf16(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, auto: torch.dtype
) -> None:
    _fake_cpu(monkeypatch, bf16=bf16)
    assert resolve_precision("auto", CPU) == auto
    assert targets(["cpu"]) == [Target("cpu", "fp32")] + ([Target("cpu", "bf16")] if bf16 else [])


def test_auto_on_mps_is_fp32() -> None:
    assert resolve_precision("auto", torch.device("mps")) == torch.float32


def test_explicit_names_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpu(monkeypatch, (7, 0))
    _fake_cpu(monkeypatch, bf16=False)
    assert resolve_precision("bf16", CUDA) == torch.bfloat16  # emulated, but asked for
    assert resolve_precision("fp32", CUDA) == torch.float32
    assert resolve_precision("fp16", CUDA) == torch.float16
    assert resolve_precision("bf16", CPU) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="--precision must be auto, fp32, bf16, fp16; got 'half'"):
        resolve_precision("half", CPU)
