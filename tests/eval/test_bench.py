"""`rwsr bench` (Table VI): parameter counts, timings in the same run, versions, outputs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from rwsr.cli.bench import _load
from rwsr.cli.main import app
from rwsr.eval import bench as bench_module
from rwsr.eval.bench import Target, bench_model, count_parameters, targets
from rwsr.models.checkpoint import save_model
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig


def test_parameter_counts_are_the_papers() -> None:
    # Table VI: RWSR-EDL 16,729,694; DESIGN: RRDBNet x4 16,697,987.
    assert count_parameters(_load("rwsr-edl-x4")) == 16_729_694
    assert count_parameters(_load("rrdbnet-x4")) == 16_697_987


def test_cli_writes_table_and_json(x4_set: Path, tmp_path: Path) -> None:
    model = x4_set / "tiny.safetensors"
    out = tmp_path / "bench"
    args = ["bench", str(model), "--device", "cpu", "--precision", "fp32", "--size", "40x24",
            "--repeats", "2", "--warmup", "1", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads((out / "bench.json").read_text())
    (row,) = document["results"]
    assert row["parameters"] == count_parameters(_load(str(model)))
    assert (row["width"], row["height"], row["scale"], row["runs"]) == (40, 24, 4, 2)
    assert row["frames_per_second"] == 1.0 / row["seconds"] and row["seconds"] > 0
    assert document["environment"]["torch"] == torch.__version__
    markdown = (out / "bench.md").read_text()
    assert "| tiny | " in markdown and "| cpu (" in markdown and "torch " in markdown
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--overwrite" in again.output


_CLOCK = {"now": 0.0, "calls": 0}  # module state: the upscaler's copies of the model share it


class _ClockedNearest(torch.nn.Module):
    """Nearest-neighbour x4 whose every call advances a fake clock by 1 s per megapixel of
    input (plus 0.25 s on the third timed call): bench timings become exact numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=4)
        self.unit = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _CLOCK["calls"] += 1
        slow = 0.25 if _CLOCK["calls"] == 4 else 0.0
        _CLOCK["now"] += x.shape[-2] * x.shape[-1] / 1e6 + slow
        return torch.nn.functional.interpolate(x * self.unit, scale_factor=4, mode="nearest")


def test_bench_times_the_repeats_after_warmup_and_takes_the_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(_CLOCK, "now", 0.0)
    monkeypatch.setitem(_CLOCK, "calls", 0)
    clock = SimpleNamespace(perf_counter=lambda: _CLOCK["now"])
    monkeypatch.setattr(bench_module, "time", clock)
    result = bench_model(
        "clocked", _ClockedNearest(), Target("cpu", "fp32"), size=(500, 200), repeats=3, warmup=1
    )
    # One warm-up call, then 0.1, 0.1 and 0.1 + 0.25 s: the median ignores the slow call.
    assert _CLOCK["calls"] == 4
    assert result.seconds == pytest.approx(0.1) and result.frames_per_second == pytest.approx(10)
    assert (result.runs, result.width, result.height, result.scale) == (3, 500, 200, 4)
    assert result.parameters == 1


def test_targets() -> None:
    assert Target("cpu", "fp32") in targets(None, None)
    assert targets(["cpu"], ["fp32", "bf16"]) == [Target("cpu", "fp32"), Target("cpu", "bf16")]
    result = CliRunner().invoke(app, ["bench", "--device", "cpu", "--precision", "fp16"])
    assert result.exit_code == 2 and "fp16 is not supported on the CPU" in result.output
    bad_size = CliRunner().invoke(app, ["bench", "--size", "300"])
    assert bad_size.exit_code == 2 and "WIDTHxHEIGHT" in bad_size.output


def test_size_is_bounded_before_any_work() -> None:
    result = CliRunner().invoke(app, ["bench", "--device", "cpu", "--size", "100000x100000"])
    assert result.exit_code == 2
    assert "--size 100000x100000: 10000.0 MPix is above the limit of 100 MPix" in result.output
    assert " on cpu (" not in result.output  # no model was loaded or run


def test_unusable_output_folder_is_refused_before_any_work(
    tmp_path: Path, unusable_output: tuple[Path, str]
) -> None:
    out, problem = unusable_output
    model = tmp_path / "tiny.safetensors"
    torch.manual_seed(0)
    save_model(RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4)).eval(), model)
    args = ["bench", str(model), "--device", "cpu", "--precision", "fp32", "--size", "16x16"]
    result = CliRunner().invoke(app, [*args, "--repeats", "1", "-o", str(out)])
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and line.startswith(f"error: -o {out}: ") and problem in line
    assert " on cpu (" not in result.output
