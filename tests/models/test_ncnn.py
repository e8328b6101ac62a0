"""ncnn import: the real models in ../shared/models/ncnn (two RRDBNets, one SRVGGNetCompact),
and small RRDBNet and compact graphs written here (no ../shared needed), the compact ones
also checked against the ncnn runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ncnn_files import write_compact_ncnn, write_rrdbnet_ncnn  # tests/models/ncnn_files.py
from PIL import Image
from shared_data import COMPACT_NCNN
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError
from rwsr.models.checkpoint import load_model
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
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
    # ESRGAN's 0.1-scaled init keeps a random trunk near identity: 15.3 dB here (24.8 trained).
    assert psnr_model > psnr_random + 5, (psnr_model, psnr_random)
    assert psnr_model > psnr_bicubic - 1.5, (psnr_model, psnr_bicubic)
    # Sharp, not blurred: more high-frequency energy than bicubic.
    lap = lambda x: np.abs(np.diff(x.astype(np.float64), 2, axis=0)).mean()
    assert lap(_upscale(model, low)) > lap(bicubic)


SMALL_RRDBNET = RRDBNetConfig(nf=8, nb=1, gc=4)


@pytest.fixture
def small_rrdbnet(tmp_path: Path) -> tuple[RRDBNet, Path, Path]:
    torch.manual_seed(0)
    model = RRDBNet(SMALL_RRDBNET).eval()
    with torch.no_grad():  # far from the near-identity init: every layer shows in the output
        for parameter in model.parameters():
            parameter.uniform_(-0.2, 0.2)
    param, weights = tmp_path / "small.param", tmp_path / "small.bin"
    write_rrdbnet_ncnn(model, param, weights)
    return model, param, weights


def test_an_rrdbnet_graph_written_here_converts_to_the_same_network(
    small_rrdbnet: tuple[RRDBNet, Path, Path],
) -> None:
    model, param, weights = small_rrdbnet
    converted = convert_ncnn(param, weights)
    assert isinstance(converted, RRDBNet) and converted.config == SMALL_RRDBNET
    expected = model.state_dict()
    for key, tensor in converted.state_dict().items():
        stored = expected[key]
        if stored.ndim == 4:  # convolution weights went through float16
            stored = stored.half().float()
        torch.testing.assert_close(tensor, stored, rtol=0, atol=0, msg=key)


def test_truncated_bin(small_rrdbnet: tuple[RRDBNet, Path, Path], tmp_path: Path) -> None:
    _, param, weights = small_rrdbnet
    cut = tmp_path / "cut.bin"
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.bin: file ends inside"):
        convert_ncnn(param, cut)


def test_unsupported_storage_tag(small_rrdbnet: tuple[RRDBNet, Path, Path], tmp_path: Path) -> None:
    _, param, weights = small_rrdbnet
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


def test_graph_that_is_not_an_rrdbnet(
    small_rrdbnet: tuple[RRDBNet, Path, Path], tmp_path: Path
) -> None:
    """A graph whose residual scaling differs from RRDBNet's is caught by running it."""
    _, param, weights = small_rrdbnet
    text = param.read_text().replace(
        "-23301=2,2.000000e-01,1.000000e+00", "-23301=2,5.000000e-01,1.000000e+00", 1
    )
    (tmp_path / "odd.param").write_text(text)
    with pytest.raises(CheckpointError, match="differs from the ncnn graph"):
        convert_ncnn(tmp_path / "odd.param", weights)


# --------------------------------------------------------------------- SRVGGNetCompact graphs

SMALL_COMPACT = CompactConfig(nf=8, num_conv=2, scale=2)


@pytest.fixture
def small_compact(tmp_path: Path) -> tuple[SRVGGNetCompact, Path, Path]:
    torch.manual_seed(0)
    model = SRVGGNetCompact(SMALL_COMPACT).eval()
    with torch.no_grad():  # PyTorch starts every slope at 0.25: make them differ
        for layer in model.body[1::2]:
            layer.weight.uniform_(-0.5, 0.5)
    param, weights = tmp_path / "small.param", tmp_path / "small.bin"
    write_compact_ncnn(model, param, weights)
    return model, param, weights


@pytest.mark.parametrize("fp16", [True, False])
def test_a_compact_graph_written_here_converts_to_the_same_network(
    tmp_path: Path, fp16: bool
) -> None:
    torch.manual_seed(0)
    model = SRVGGNetCompact(SMALL_COMPACT).eval()
    param, weights = tmp_path / "c.param", tmp_path / "c.bin"
    write_compact_ncnn(model, param, weights, fp16=fp16)
    converted = convert_ncnn(param, weights)
    assert isinstance(converted, SRVGGNetCompact) and converted.config == SMALL_COMPACT
    expected = model.state_dict()
    for key, tensor in converted.state_dict().items():
        stored = expected[key]
        if fp16 and stored.ndim == 4:  # convolution weights went through float16
            stored = stored.half().float()
        torch.testing.assert_close(tensor, stored, rtol=0, atol=0, msg=key)


def test_the_ncnn_runtime_runs_the_graph_written_here_as_rwsr_does(
    small_compact: tuple[SRVGGNetCompact, Path, Path],
) -> None:
    """The hand-written graph is a graph ncnn itself reads: its output is the converted
    network's (fp32 arithmetic in ncnn)."""
    ncnn = pytest.importorskip("ncnn")
    _, param, weights = small_compact
    converted = convert_ncnn(param, weights)
    image = np.random.default_rng(0).random((3, 10, 14), dtype=np.float32)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    for option in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"):
        setattr(net.opt, option, False)
    net.opt.use_bf16_storage = False
    net.load_param(str(param))
    net.load_model(str(weights))
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(image))
    _, result = extractor.extract("output")
    with torch.no_grad():
        expected = converted(torch.from_numpy(image)[None])[0].numpy()
    np.testing.assert_allclose(np.array(result), expected, atol=1e-5)


def test_a_compact_graph_that_is_not_a_plain_compact_is_caught_by_running_it(
    small_compact: tuple[SRVGGNetCompact, Path, Path], tmp_path: Path
) -> None:
    _, param, weights = small_compact
    (tmp_path / "mul.param").write_text(param.read_text().replace("output 0=0", "output 0=2"))
    with pytest.raises(CheckpointError, match="differs from the ncnn graph"):
        convert_ncnn(tmp_path / "mul.param", weights)
    (tmp_path / "x3.param").write_text(param.read_text().replace("2.000000e+00", "3.000000e+00"))
    with pytest.raises(CheckpointError, match=r"x3\.param: the ncnn graph does not run"):
        convert_ncnn(tmp_path / "x3.param", weights)


def test_a_compact_graph_converts_through_the_cli(
    small_compact: tuple[SRVGGNetCompact, Path, Path], tmp_path: Path
) -> None:
    _, param, weights = small_compact
    out = tmp_path / "small.safetensors"
    result = CliRunner().invoke(app, ["convert", "ncnn", str(param), str(weights), "-o", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_model(out)
    assert loaded.config == SMALL_COMPACT and isinstance(loaded.model, SRVGGNetCompact)


def test_realesr_general_x4v3_agrees_with_the_ncnn_runtime(photo_rgb: np.ndarray) -> None:
    """The real files (Upscayl's build of realesr-general-x4v3) run by the ncnn wheel with its
    default CPU settings and by rwsr's converted network agree on a real photo."""
    ncnn = pytest.importorskip("ncnn")
    param = COMPACT_NCNN / "realesr-general-x4v3.param"
    weights = COMPACT_NCNN / "realesr-general-x4v3.bin"
    model = convert_ncnn(param, weights)
    assert model.config == CompactConfig()
    assert sum(p.numel() for p in model.parameters()) == 1_213_296
    image = np.ascontiguousarray(photo_rgb[:48, :64])
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.load_param(str(param))
    net.load_model(str(weights))
    mat = ncnn.Mat.from_pixels(image, ncnn.Mat.PixelType.PIXEL_RGB, 64, 48)
    mat.substract_mean_normalize([], [1 / 255.0] * 3)
    extractor = net.create_extractor()
    extractor.input("data", mat)
    _, result = extractor.extract("output")
    theirs = np.clip(np.rint(np.array(result).transpose(1, 2, 0) * 255), 0, 255)
    assert theirs.shape == (192, 256, 3)
    assert _psnr(_upscale(model, image), theirs) >= 45
