"""SRVGGNetCompact (Real-ESRGAN Compact) as an rwsr model: Real-ESRGAN's key names and outputs,
loading from a file alone, the save/load round trip, refusals, and the tiling engine."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from shared_data import COMPACT_NCNN
from spandrel.architectures.Compact import Compact
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError
from rwsr.models.catalog import architecture_config, build_model
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.ncnn import convert_ncnn
from rwsr.upscale.engine import Upscaler
from rwsr.upscale.fusion import FusedConv2d, fused_call_works

SMALL = CompactConfig(nf=8, num_conv=2, scale=2)


def _reference(config: CompactConfig) -> Compact:
    """The same network built by spandrel's copy of Real-ESRGAN's SRVGGNetCompact."""
    torch.manual_seed(0)
    return Compact(
        num_in_ch=config.in_channels,
        num_out_ch=config.out_channels,
        num_feat=config.nf,
        num_conv=config.num_conv,
        upscale=config.scale,
    ).eval()


def test_the_default_is_realesr_general_x4v3_under_real_esrgans_names() -> None:
    model, reference = SRVGGNetCompact(), _reference(CompactConfig())
    assert architecture_config("compact-x4") == CompactConfig()
    assert sum(p.numel() for p in model.parameters()) == 1_213_296
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert ours["body.65.weight"] == (64,) and ours["body.66.weight"] == (48, 64, 3, 3)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_same_weights_give_real_esrgans_output(scale: int) -> None:
    config = SMALL.model_copy(update={"scale": scale})
    reference = _reference(config)
    model = SRVGGNetCompact(config).eval()
    model.load_state_dict(reference.state_dict())
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (1, 3, 7 * scale, 9 * scale)
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_real_esrgan_compact_file_loads_natively(tmp_path: Path, suffix: str) -> None:
    reference = _reference(SMALL)
    path = tmp_path / f"compact{suffix}"
    if suffix == ".pth":
        torch.save({"params": reference.state_dict()}, path)  # as Real-ESRGAN releases its weights
    else:
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    loaded = load_model(path)
    assert loaded.key_format == "compact" and loaded.config == SMALL
    assert isinstance(loaded.model, SRVGGNetCompact) and loaded.report.complete
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "compact (Real-ESRGAN SRVGGNetCompact)" in result.output
    assert re.search(r"^nf/num_conv: +8/2$", result.output, re.MULTILINE), result.output


def test_save_and_load_round_trip_with_the_config_in_the_metadata(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = SRVGGNetCompact(SMALL).eval()
    save_model(model, tmp_path / "c.safetensors", metadata={"source": "test"})
    loaded = load_model(tmp_path / "c.safetensors")
    assert loaded.key_format.startswith("rwsr safetensors") and loaded.config == SMALL
    assert loaded.metadata["source"] == "test"
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), rtol=0, atol=0)


def test_a_requested_scale_that_contradicts_the_weights(tmp_path: Path) -> None:
    torch.save(_reference(SMALL).state_dict(), tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="x2 Real-ESRGAN Compact network, but x4"):
        load_model(tmp_path / "c.pth", scale=4)


def test_malformed_compact_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    state = _reference(SMALL).state_dict()
    gap = {k: v for k, v in state.items() if not k.startswith("body.2.")}
    torch.save(gap, tmp_path / "gap.pth")
    with pytest.raises(CheckpointError, match=r"gap\.pth: .*block 2 is missing"):
        load_model(tmp_path / "gap.pth")
    odd = dict(state)
    odd["body.6.weight"] = torch.zeros(5 * 3, 8, 3, 3)  # not channels * scale^2 outputs
    odd["body.6.bias"] = torch.zeros(5 * 3)
    torch.save(odd, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"odd\.pth: the last convolution has 15 outputs"):
        load_model(tmp_path / "odd.pth")


def test_the_engine_runs_a_compact_model_exactly_in_fp32() -> None:
    """One tile covers the image: the engine's output is the model's, rounded to 8 bits. The
    CPU fusions leave the compact model as it is (no conv + ReLU/LeakyReLU pair in it)."""
    torch.manual_seed(2)
    model = SRVGGNetCompact(SMALL).eval()
    image = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    upscaler = Upscaler(model, precision="fp32", tile=64)
    assert not any(isinstance(m, FusedConv2d) for m in upscaler._fast.modules())
    out = upscaler.upscale(image)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(out, np.rint(expected * 255).astype(np.uint8))


def test_onednn_still_has_no_prelu_fusion() -> None:
    """Why the compact model's PReLUs run unfused (rwsr.upscale.fusion): when a torch release
    fuses PReLU into oneDNN's convolution call, this fails and the fusion can be added."""
    if not fused_call_works(torch.float32):
        pytest.skip("this torch build has no oneDNN fused convolution at all")
    conv = torch.nn.Conv2d(4, 4, 3, 1, 1)
    x = torch.rand(1, 4, 6, 6)
    with pytest.raises(RuntimeError, match="Fusion behavior undefined"), torch.inference_mode():
        FusedConv2d(conv, "prelu", 0.25)(x)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def test_tiles_are_seamless_with_the_real_compact_model(photo_rgb: np.ndarray) -> None:
    """realesr-general-x4v3 sees 34 input pixels around each pixel (34 3x3 convolutions),
    fewer than the 40 px of the picture the engine computes every tile with: 64 px tiles
    match one tile to a few pixels one level off (109 dB in fp32), while tiles that neither
    overlap nor see their surroundings show their seams (42.5 dB)."""
    model = convert_ncnn(
        COMPACT_NCNN / "realesr-general-x4v3.param", COMPACT_NCNN / "realesr-general-x4v3.bin"
    )
    image = photo_rgb[:160, :160]
    whole = Upscaler(model, precision="fp32", tile=256).upscale(image)
    tiled = Upscaler(model, precision="fp32", tile=64).upscale(image)
    hard = Upscaler(model, precision="fp32", tile=80, tile_overlap=0, tile_context=0).upscale(image)
    assert whole.shape == tiled.shape == (640, 640, 3)
    assert _psnr(tiled, whole) >= 50
    assert _psnr(hard, whole) < _psnr(tiled, whole) - 5


def test_built_from_the_catalog_and_described_by_info() -> None:
    model = build_model(architecture_config("compact-x4"))
    assert isinstance(model, SRVGGNetCompact)
    result = CliRunner().invoke(app, ["info", "compact-x4"])
    assert result.exit_code == 0, result.output
    assert "1,213,296" in result.output and "random weights" in result.output
