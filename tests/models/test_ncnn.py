"""ncnn import on the two real models in ../shared/models/ncnn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError
from rwsr.models.checkpoint import load_model
from rwsr.models.ncnn import TAG_FP16, convert_ncnn
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig

MODELS = {
    "impressionism": ("impressionism_df2k_x4", "x4"),
    "realesrgan": ("realesrgan_x4plus", "realesrgan-x4plus"),
}


def _files(root: Path, key: str) -> tuple[Path, Path]:
    folder, stem = MODELS[key]
    return root / folder / f"{stem}.param", root / folder / f"{stem}.bin"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _upscale(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = model.eval()(tensor).clamp(0, 1)
    return (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize("key", list(MODELS))
def test_convert_cli_writes_loadable_rrdbnet(ncnn_models: Path, tmp_path: Path, key: str) -> None:
    param, weights = _files(ncnn_models, key)
    out = tmp_path / f"{key}.safetensors"
    result = CliRunner().invoke(app, ["convert", "ncnn", str(param), str(weights), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "16,697,987 parameters" in result.output
    loaded = load_model(out)
    assert loaded.config == RRDBNetConfig()
    assert sum(p.numel() for p in loaded.model.parameters()) == 16_697_987
    assert loaded.metadata["source"] == f"ncnn {param.name} + {weights.name}"
    # Refuses to overwrite without the flag.
    again = CliRunner().invoke(app, ["convert", "ncnn", str(param), str(weights), "-o", str(out)])
    assert again.exit_code != 0 and "already exists" in again.output


def test_converted_network_upscales_a_real_photo(ncnn_models: Path, photo_rgb: np.ndarray) -> None:
    """The converted Impressionism network restores a 4x-downscaled photo at least as well as
    bicubic, and far better than the same architecture with random weights."""
    original = photo_rgb[:192, :192]
    low = np.asarray(Image.fromarray(original).resize((48, 48), Image.BICUBIC))
    bicubic = np.asarray(Image.fromarray(low).resize((192, 192), Image.BICUBIC))
    model = convert_ncnn(*_files(ncnn_models, "impressionism"))
    torch.manual_seed(0)
    random_net = RRDBNet(RRDBNetConfig())
    # Compare away from the borders, where padding conventions differ.
    crop = (slice(8, -8), slice(8, -8))
    psnr_model = _psnr(_upscale(model, low)[crop], original[crop])
    psnr_bicubic = _psnr(bicubic[crop], original[crop])
    psnr_random = _psnr(_upscale(random_net, low)[crop], original[crop])
    assert psnr_model > psnr_random + 10, (psnr_model, psnr_random)
    assert psnr_model > psnr_bicubic - 1.5, (psnr_model, psnr_bicubic)
    # Sharp, not blurred: more high-frequency energy than bicubic.
    lap = lambda x: np.abs(np.diff(x.astype(np.float64), 2, axis=0)).mean()
    assert lap(_upscale(model, low)) > lap(bicubic)


def test_truncated_bin(ncnn_models: Path, tmp_path: Path) -> None:
    param, weights = _files(ncnn_models, "impressionism")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(weights.read_bytes()[:1_000_000])
    with pytest.raises(CheckpointError, match=r"cut\.bin: file ends inside"):
        convert_ncnn(param, cut)


def test_unsupported_storage_tag(ncnn_models: Path, tmp_path: Path) -> None:
    param, weights = _files(ncnn_models, "impressionism")
    data = bytearray(weights.read_bytes())
    assert int.from_bytes(data[:4], "little") == TAG_FP16
    data[:4] = (0x000D4B38).to_bytes(4, "little")  # ncnn's int8 tag
    (tmp_path / "int8.bin").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="int8-quantised models are not"):
        convert_ncnn(param, tmp_path / "int8.bin")


def test_not_an_ncnn_param(tmp_path: Path) -> None:
    (tmp_path / "x.param").write_text("hello\n")
    with pytest.raises(CheckpointError, match=r"x\.param: not an ncnn \.param file"):
        convert_ncnn(tmp_path / "x.param", tmp_path / "x.bin")


def test_graph_that_is_not_an_rrdbnet(ncnn_models: Path, tmp_path: Path) -> None:
    """A graph whose residual scaling differs from RRDBNet's is caught by running it."""
    param, weights = _files(ncnn_models, "impressionism")
    text = param.read_text().replace(
        "-23301=2,2.000000e-01,1.000000e+00", "-23301=2,5.000000e-01,1.000000e+00", 1
    )
    (tmp_path / "odd.param").write_text(text)
    with pytest.raises(CheckpointError, match="differs from the ncnn graph"):
        convert_ncnn(tmp_path / "odd.param", weights)
