"""`rwsr convert SOURCE -o OUTPUT`: the direction chosen from the file names, the pairs and
options that make no sense refused before any work, and the earlier spellings kept (with a
note)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from ncnn_files import write_compact_ncnn  # tests/models/ncnn_files.py
from shared_data import RRDB_L1_X1
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.imageio import read_image
from rwsr.models.checkpoint import load_model
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.ncnn import convert_ncnn
from rwsr.models.zoo import load_generator

SMALL_COMPACT = CompactConfig(nf=8, num_conv=2, scale=2)
RRDB_L1 = str(RRDB_L1_X1)  # a small trained x1 RRDBNet (tests/fixtures/models)


def _convert(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["convert", *args])
    return result.exit_code, result.output


@pytest.fixture
def ncnn_pair(tmp_path: Path) -> Path:
    """A small SRVGGNetCompact as ncnn files, x2.param and x2.bin; returns the .param."""
    torch.manual_seed(0)
    param = tmp_path / "x2.param"
    write_compact_ncnn(SRVGGNetCompact(SMALL_COMPACT).eval(), param, tmp_path / "x2.bin")
    return param


def test_an_ncnn_param_source_is_imported_with_the_bin_beside_it(
    ncnn_pair: Path, tmp_path: Path
) -> None:
    out = tmp_path / "imported.safetensors"
    code, output = _convert(str(ncnn_pair), "-o", str(out))
    assert code == 0, output
    assert "agrees with the ncnn graph" in output and "note:" not in output
    loaded = load_model(out)
    assert loaded.config == SMALL_COMPACT and loaded.dtype == torch.float32


def test_a_param_output_is_an_ncnn_export_named_for_upscayl(tmp_path: Path) -> None:
    out = tmp_path / "camerasr-x1.param"
    code, output = _convert(RRDB_L1, "-o", str(out))
    assert code == 0, output
    assert "camerasr-x1.bin (float16 weights), input 'data', output 'output'" in output
    assert "Upscayl" not in output  # the name says x1, as Upscayl reads it
    assert out.read_text().startswith("7767517\n")
    imported = convert_ncnn(out, out.with_suffix(".bin"))  # read back: the same RRDBNet
    assert imported.config == load_generator(RRDB_L1).config
    # A name Upscayl would read as x4 gets a note.
    code, output = _convert(RRDB_L1, "-o", str(tmp_path / "camerasr.param"))
    assert code == 0 and "would take x4: name it e.g. camerasr-x1.param" in output


def test_an_ncnn_source_exports_to_onnx_through_the_imported_network(
    ncnn_pair: Path, tmp_path: Path, city100_crops: Path
) -> None:
    out = tmp_path / "x2.onnx"
    code, output = _convert(str(ncnn_pair), "-o", str(out))
    assert code == 0, output
    model = convert_ncnn(ncnn_pair, ncnn_pair.with_suffix(".bin"))
    photo = read_image(city100_crops / "022L.PNG")[:37, :45].astype(np.float32) / 255
    x = np.ascontiguousarray(photo.transpose(2, 0, 1)[None])
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"image": x})[0]
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).clamp(0, 1).numpy()
    assert theirs.shape == (1, 3, 74, 90)
    np.testing.assert_allclose(theirs, ours, atol=1e-4)


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("x2.param", "again.param", "both are ncnn files; nothing to convert"),
        (RRDB_L1, "model.pth", "expected a .safetensors, .onnx or .param (ncnn)"),
        (RRDB_L1, "model.bin", "expected a .safetensors, .onnx or .param (ncnn)"),
    ],
    ids=["param-to-param", "safetensors-to-pth", "safetensors-to-bin"],
)
def test_an_impossible_pair_is_refused_before_any_work(
    ncnn_pair: Path, tmp_path: Path, source: str, name: str, message: str
) -> None:
    source = str(tmp_path / source) if source.endswith(".param") else source
    before = sorted(tmp_path.iterdir())
    code, output = _convert(source, "-o", str(tmp_path / name))
    assert code == 1 and message in output and "Traceback" not in output
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--opset", "17", "-o", "m.safetensors"], "--opset does not apply to writing"),
        (["--into", "rwsr-edl-x4", "-o", "m.onnx"], "--into does not apply to writing"),
        (["--dtype", "float16", "-o", "m.onnx"], "--dtype does not apply to writing"),
        (["extra.bin", "-o", "m.safetensors"], "goes with an ncnn .param source only"),
    ],
)
def test_an_option_that_does_not_apply_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = _convert(RRDB_L1, *args)
    assert code == 2 and message in output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_bin_is_kept_and_no_param_is_written(tmp_path: Path) -> None:
    (tmp_path / "model-x1.bin").write_bytes(b"keep me")
    code, output = _convert(RRDB_L1, "-o", str(tmp_path / "model-x1.param"))
    assert code == 1 and "model-x1.bin: already exists; pass --overwrite" in output
    assert (tmp_path / "model-x1.bin").read_bytes() == b"keep me"
    assert not (tmp_path / "model-x1.param").exists()


def test_a_missing_bin_is_named(ncnn_pair: Path, tmp_path: Path) -> None:
    ncnn_pair.with_suffix(".bin").unlink()
    code, output = _convert(str(ncnn_pair), "-o", str(tmp_path / "m.safetensors"))
    assert code == 1 and "x2.bin: cannot read ncnn .bin file" in output


@pytest.mark.parametrize(
    ("verb", "suffix"),
    [("ncnn", ".safetensors"), ("onnx", ".onnx"), ("safetensors", ".safetensors")],
)
def test_the_earlier_spellings_still_work_with_a_note(
    ncnn_pair: Path, tmp_path: Path, verb: str, suffix: str
) -> None:
    out = tmp_path / f"out{suffix}"
    sources = [str(ncnn_pair), str(ncnn_pair.with_suffix(".bin"))] if verb == "ncnn" else []
    sources = sources or [RRDB_L1]
    code, output = _convert(verb, *sources, "-o", str(out))
    assert code == 0, output
    assert f"note: `rwsr convert {verb} ...` is now `rwsr convert " in output
    assert out.exists()
