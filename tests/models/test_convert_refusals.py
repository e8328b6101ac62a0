"""`rwsr convert` refusals: an output name that does not say what is written, and models whose
weights or outputs are not finite (nothing is written for them), for every output format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.models.checkpoint import save_model
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig


def _convert(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["convert", *args])
    return result.exit_code, result.output


def _tiny_file(path: Path, fill: float | None = None, *, signs: bool = False) -> Path:
    """A 1-block x1 RRDBNet file; `fill` sets every weight (with random signs if `signs`)."""
    torch.manual_seed(0)
    model = RRDBNet(RRDBNetConfig(scale=1, nf=8, nb=1, gc=4))
    if fill is not None:
        with torch.no_grad():
            for parameter in model.parameters():
                sign = torch.randn_like(parameter).sign() if signs else 1
                parameter.copy_(torch.full_like(parameter, fill) * sign)
    save_model(model, path)
    return path


def test_ncnn_output_must_be_named_safetensors(tmp_path: Path) -> None:
    """The suffix is checked before the ncnn files are even read (earlier spelling: its
    output is rwsr safetensors)."""
    out = tmp_path / "model.pth"
    code, output = _convert("ncnn", "x4.param", "x4.bin", "-o", str(out))
    assert code == 1 and f"-o {out}: expected a .safetensors file name" in output
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors", ".param"])
def test_nan_weights_are_refused_by_name_and_nothing_is_written(
    tmp_path: Path, suffix: str
) -> None:
    source = _tiny_file(tmp_path / "diverged.safetensors", float("nan"))
    out = tmp_path / f"out{suffix}"
    code, output = _convert(str(source), "-o", str(out))
    assert code == 1 and "Traceback" not in output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert line.startswith(
        f"error: {source}: NaN/Inf weights in 38 of 38 tensors (conv_first.weight, "
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diverged.safetensors"]


@pytest.mark.parametrize("suffix", [".safetensors", ".param"])
def test_float16_overflow_is_refused_before_writing(tmp_path: Path, suffix: str) -> None:
    source = _tiny_file(tmp_path / "large.safetensors", 1e6)
    out = tmp_path / f"out{suffix}"
    code, output = _convert(str(source), "-o", str(out), "--dtype", "float16")
    assert code == 2 and "weights beyond the range of float16" in output
    assert "--dtype float32" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.safetensors"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.onnx"], "onnxruntime does not reproduce the model"),
        (["-o", "out.param", "--dtype", "float32"], "the ncnn runtime does not reproduce"),
    ],
)
def test_nan_outputs_are_no_agreement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """Finite but huge weights of both signs give inf - inf = NaN outputs in PyTorch and the
    runtimes alike; NaN matching NaN proves nothing, so no file is written."""
    monkeypatch.chdir(tmp_path)
    source = _tiny_file(tmp_path / "overflowing.safetensors", 1e30, signs=True)
    code, output = _convert(str(source), *args)
    assert code == 1 and message in output
    assert "-inf dB" in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overflowing.safetensors"]


def test_ncnn_weights_with_nan_are_refused_by_name(ncnn_models: Path, tmp_path: Path) -> None:
    """NaN weights make the ncnn graph and the converted network both NaN, which no
    difference tolerance catches; the weights check does, before the file is written."""
    folder = ncnn_models / "impressionism_df2k_x4"
    data = bytearray((folder / "x4.bin").read_bytes())
    data[4:20] = b"\xff" * 16  # after the first storage tag: 8 fp16 weights of conv_first
    weights = tmp_path / "x4.bin"
    weights.write_bytes(bytes(data))
    out = tmp_path / "x4.safetensors"
    code, output = _convert("ncnn", str(folder / "x4.param"), str(weights), "-o", str(out))
    assert code == 1 and "Traceback" not in output
    assert f"{weights}: NaN/Inf weights in 1 of " in output and "(conv_first.weight)" in output
    assert not out.exists()
