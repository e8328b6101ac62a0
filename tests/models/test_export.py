"""`rwsr convert MODEL -o OUT.safetensors|OUT.onnx`: outputs checked here independently of the
command's own check, on real City100 photos (the crops in tests/fixtures), with onnxruntime
and a fresh load."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from shared_data import RRDB_L1_X1  # a small trained x1 RRDBNet
from spandrel.architectures.SPAN import SPAN
from spandrel.architectures.SwinIR import SwinIR
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.checkpoint import load_model
from rwsr.models.zoo import load_generator


def _convert(*args: str) -> str:
    result = CliRunner().invoke(app, ["convert", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _photo(city100_crops: Path, name: str, height: int, width: int) -> torch.Tensor:
    """An odd-sized crop of a real iPhone photo as a 1x3xHxW float tensor in [0, 1]."""
    bgr = cv2.imread(str(city100_crops / name))[:height, :width]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    return torch.from_numpy(rgb).permute(2, 0, 1)[None]


def _torch_output(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model.float().eval()(x).clamp(0, 1).numpy()


def _onnx_output(path: Path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x.numpy()})[0]


def _db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on the 0-255 scale of two 1x3xHxW outputs in [0, 1] (unrounded)."""
    return psnr(a[0].transpose(1, 2, 0) * 255, b[0].transpose(1, 2, 0) * 255)


def test_a_trained_model_onnx_agrees_with_pytorch_on_real_photos(
    city100_crops: Path, tmp_path: Path
) -> None:
    out = tmp_path / "camerasr.onnx"
    message = _convert(str(RRDB_L1_X1), "-o", str(out))
    assert "opset 18, any height and width" in message
    # The exporter's NAME.data weights file went too: the graph holds them.
    assert [p.name for p in tmp_path.iterdir()] == ["camerasr.onnx"]
    model = load_generator(str(RRDB_L1_X1)).model
    for name, (height, width) in (("021L.PNG", (77, 131)), ("033L.PNG", (120, 53))):
        x = _photo(city100_crops, name, height, width)
        onnx_out = _onnx_output(out, x)
        assert onnx_out.shape == (1, 3, height, width)
        assert _db(onnx_out, _torch_output(model, x)) >= 50
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["rwsr.scale"] == "1" and meta["rwsr.size_multiple"] == "1"
    assert onnx.load(str(out)).opset_import[0].version == 18


def test_spandrel_architecture_onnx_takes_any_size(city100_crops: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    swinir = SwinIR(
        upscale=2, img_size=16, window_size=8, embed_dim=12, depths=[1], num_heads=[2],
        mlp_ratio=2, upsampler="pixelshuffle",
    )  # fmt: skip
    source = tmp_path / "swinir.pth"
    torch.save(swinir.state_dict(), source)
    out = tmp_path / "swinir.onnx"
    _convert(str(source), "-o", str(out))
    model = load_model(source).model
    # Sizes that are and are not multiples of the 8 px window.
    for height, width in ((40, 64), (37, 59)):
        x = _photo(city100_crops, "050L.PNG", height, width)
        onnx_out = _onnx_output(out, x)
        assert onnx_out.shape == (1, 3, 2 * height, 2 * width)
        assert _db(onnx_out, _torch_output(model, x)) >= 50


def test_safetensors_conversion_of_a_spandrel_model_reloads_identically(
    city100_crops: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    source = tmp_path / "span.pth"
    torch.save(
        {
            "params_ema": SPAN(
                num_in_ch=3, num_out_ch=3, feature_channels=12, upscale=2
            ).state_dict()
        },
        source,
    )
    out = tmp_path / "span.safetensors"
    message = _convert(str(source), "-o", str(out), "--dtype", "float32")
    assert "reload identical" in message
    x = _photo(city100_crops, "064L.PNG", 41, 67)
    original = _torch_output(load_model(source).model, x)
    converted = load_model(out)
    assert converted.config.architecture == "SPAN" and converted.dtype == torch.float32
    np.testing.assert_array_equal(_torch_output(converted.model, x), original)


def test_float16_safetensors_of_a_zoo_model_is_half_the_size_and_close(
    city100_crops: Path, tmp_path: Path
) -> None:
    fp32, fp16 = tmp_path / "fp32.safetensors", tmp_path / "fp16.safetensors"
    _convert(str(RRDB_L1_X1), "-o", str(fp32), "--dtype", "float32")
    _convert(str(fp32), "-o", str(fp16), "--dtype", "float16")
    assert load_model(fp16).dtype == torch.float16
    assert fp16.stat().st_size < 0.6 * fp32.stat().st_size
    x = _photo(city100_crops, "091L.PNG", 64, 64)
    a, b = (_torch_output(load_model(p).model, x) for p in (fp32, fp16))
    assert _db(a, b) > 50


def test_an_existing_output_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    result = CliRunner().invoke(app, ["convert", "missing-model.pth", "-o", str(out)])
    assert result.exit_code != 0
    assert f"-o {out}: already exists; pass --overwrite" in result.output
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("command", "name"), [("onnx", "model.safetensors"), ("safetensors", "model.onnx")]
)
def test_an_earlier_spelling_with_another_suffix_is_an_error(
    command: str, name: str, tmp_path: Path
) -> None:
    """`rwsr convert onnx MODEL -o model.safetensors`: the verb and the file name disagree."""
    result = CliRunner().invoke(
        app, ["convert", command, str(RRDB_L1_X1), "-o", str(tmp_path / name)]
    )
    assert result.exit_code == 1 and f"expected a .{command} file name" in result.output
    assert list(tmp_path.iterdir()) == []
