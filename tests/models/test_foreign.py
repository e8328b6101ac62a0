"""Community architectures through spandrel: small models built with spandrel's own classes,
saved as .pth and .safetensors, detected by rwsr, upscaled through the CLI and the engine."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from spandrel import ModelLoader
from spandrel.architectures.HAT import HAT
from spandrel.architectures.PLKSR import RealPLKSR
from spandrel.architectures.SPAN import SPAN
from spandrel.architectures.SwinIR import SwinIR
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import CheckpointError
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.foreign import SpandrelGenerator
from rwsr.upscale.engine import Upscaler

# Small x2 instances (windowed transformers, a large-kernel CNN, attention-free SPAN): every
# code path of the full-size models, milliseconds per tile. (Real-ESRGAN Compact loads
# natively: tests/models/test_compact.py.)
ARCHITECTURES = {
    "SwinIR": lambda: SwinIR(
        upscale=2, img_size=16, window_size=8, embed_dim=12, depths=[1], num_heads=[2],
        mlp_ratio=2, upsampler="pixelshuffle",
    ),
    "HAT": lambda: HAT(
        upscale=2, img_size=16, window_size=8, embed_dim=12, depths=[1], num_heads=[2],
        mlp_ratio=2, upsampler="pixelshuffle", compress_ratio=3, squeeze_factor=4,
    ),
    "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=12, upscale=2),
    "PLKSR": lambda: RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2),
}  # fmt: skip


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return ARCHITECTURES[name]().eval()


@pytest.fixture
def photo(city100_crops: Path, tmp_path: Path) -> Path:
    """A 44x60 crop of a real iPhone photo (odd sizes: no architecture gets a free multiple)."""
    image = cv2.imread(str(city100_crops / "091L.PNG"))[20:64, 40:100]
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), image)
    return path


def _reference(model: torch.nn.Module, path: Path) -> np.ndarray:
    """spandrel's own call on the whole image, fp32: what rwsr must reproduce."""
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    descriptor = ModelLoader().load_from_state_dict(model.state_dict())
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = descriptor(x)[0].permute(1, 2, 0).numpy()
    return np.rint(y * 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_architecture_upscales_through_the_cli(
    name: str, suffix: str, photo: Path, tmp_path: Path
) -> None:
    model = _build(name)
    weights = tmp_path / f"model{suffix}"
    if suffix == ".pth":
        torch.save({"params_ema": model.state_dict()}, weights)
    else:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    result = CliRunner().invoke(
        app,
        ["upscale", str(photo), "-o", str(tmp_path / "out"), "--model", str(weights),
         "--precision", "fp32", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    output = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "photo_x2.png")), cv2.COLOR_BGR2RGB)
    assert output.shape == (88, 120, 3)
    # One tile covers the crop, so the engine's result is spandrel's call, rounded alike.
    assert psnr(output, _reference(model, photo)) > 50


def test_info_names_the_detected_architecture(tmp_path: Path) -> None:
    weights = tmp_path / "swinir.pth"
    model = _build("SwinIR")
    torch.save(model.state_dict(), weights)
    result = CliRunner().invoke(app, ["info", str(weights)])
    assert result.exit_code == 0, result.output
    assert "SwinIR (detected by spandrel" in result.output
    assert f"{sum(p.numel() for p in model.parameters()):,}" in result.output


def test_rwsr_safetensors_of_a_spandrel_model_reload_identically(
    photo: Path, tmp_path: Path
) -> None:
    source = tmp_path / "span.pth"
    torch.save(_build("SPAN").state_dict(), source)
    loaded = load_model(source)
    assert isinstance(loaded.model, SpandrelGenerator) and loaded.config.scale == 2
    saved = tmp_path / "span.safetensors"
    save_model(loaded.model, saved)
    again = load_model(saved)
    assert again.config == loaded.config
    assert again.key_format.startswith("rwsr safetensors")
    image = cv2.imread(str(photo))
    first = Upscaler(loaded.model, precision="fp32").upscale(image)
    second = Upscaler(again.model, precision="fp32").upscale(image)
    np.testing.assert_array_equal(first, second)


def test_a_requested_scale_that_contradicts_the_weights_is_an_error(tmp_path: Path) -> None:
    weights = tmp_path / "span.pth"
    torch.save(_build("SPAN").state_dict(), weights)
    with pytest.raises(CheckpointError, match="x2 SPAN, but x4 was requested"):
        load_model(weights, scale=4)


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_a_pickle_that_runs_code_is_refused_before_spandrel_sees_it(tmp_path: Path) -> None:
    state = dict(_build("SPAN").state_dict())
    weights = tmp_path / "evil.pth"
    with open(weights, "wb") as handle:
        pickle.dump({"params": state, "hook": _RunsCode()}, handle)
    with pytest.raises(CheckpointError, match="rwsr loads weights only"):
        load_model(weights)


def test_keys_no_loader_knows_name_both_loaders(tmp_path: Path) -> None:
    weights = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 3, 3, 3)}, str(weights))
    with pytest.raises(CheckpointError, match="nor an architecture spandrel detects"):
        load_model(weights)


def test_upscale_says_which_architecture_it_found(photo: Path, tmp_path: Path) -> None:
    weights = tmp_path / "span.safetensors"
    save_file(_build("SPAN").state_dict(), str(weights))
    result = CliRunner().invoke(
        app, ["upscale", str(photo), "-o", str(tmp_path / "out"), "--model", str(weights)]
    )
    assert result.exit_code == 0, result.output
    assert "(SPAN (detected by spandrel 0.4.2)): x2 on cpu" in result.output
