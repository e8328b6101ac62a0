"""The x1 pixel-unshuffle-4 RWSR-EDL variant: started from a x4 RRDB file, rebuilt from its own
file, and the texture dial of the EDL head (rwsr upscale --texture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.imageio import read_image, write_image
from rwsr.models.catalog import architecture_config, build_model, describe
from rwsr.models.checkpoint import load_model, save_model
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.train.config import load_config
from rwsr.train.trainer import build_generator

REPO = Path(__file__).resolve().parents[2]
SMALL_TRUNK = {"nb": 1, "nf": 8, "gc": 4}


def _small(name: str, **head: object):
    config = architecture_config(name)
    rrdb = config.rrdb if hasattr(config, "rrdb") else config
    rrdb = rrdb.model_copy(update=SMALL_TRUNK)
    if not hasattr(config, "rrdb"):
        return rrdb
    return config.model_copy(update={"rrdb": rrdb, "head": config.head.model_copy(update=head)})


def _photo(seed: int, size: tuple[int, int] = (24, 32)) -> torch.Tensor:
    return torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(seed))


def test_step_0_is_the_x4_model_on_the_4x4_box_average(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x4 = build_model(RRDBNetConfig(scale=4, **SMALL_TRUNK)).eval()
    save_model(x4, tmp_path / "x4.safetensors")
    said: list[str] = []
    config = load_config(
        REPO / "configs" / "tiny_cpu.yaml",
        [
            "model.generator=rwsr-edl-x1-unshuffle4",
            "model.rrdb={scale: 1, nb: 1, nf: 8, gc: 4, input_unshuffle: 4}",
            f"model.init_from={tmp_path / 'x4.safetensors'}",
        ],
        check_paths=False,
    )
    generator = build_generator(config, said.append).eval()
    photo = _photo(1)
    with torch.no_grad():
        expected = x4(F.avg_pool2d(photo, 4))
        got = generator(photo)
    assert got.shape == photo.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert any("widened from 3 to 48 input channels" in line for line in said)


def test_the_architecture_rebuilds_from_its_file_alone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(_small("rwsr-edl-x1-unshuffle4", init="default")).eval()
    save_model(model, tmp_path / "g.safetensors")
    loaded = load_model(tmp_path / "g.safetensors")
    assert loaded.config == model.config
    assert loaded.config.rrdb.input_unshuffle == 4
    assert "pixel-unshuffle 4" in describe(loaded.config)["variant"]
    photo = _photo(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(photo), model(photo))


def test_a_real_esrgan_x1_checkpoint_loads_as_the_unshuffled_trunk(tmp_path: Path) -> None:
    """BasicSR/Real-ESRGAN x1 files: conv_first with 48 inputs, weights under params_ema."""
    torch.manual_seed(0)
    trunk = build_model(_small("rrdbnet-x1-unshuffle4")).eval()
    torch.save({"params_ema": trunk.state_dict()}, tmp_path / "RealESRGAN_x1.pth")
    loaded = load_model(tmp_path / "RealESRGAN_x1.pth")
    assert loaded.config == trunk.config
    photo = _photo(3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(photo), trunk(photo))


@pytest.fixture
def edl_file(tmp_path: Path) -> Path:
    """A small x1 RWSR-EDL with trained-looking (non-identity) head weights."""
    torch.manual_seed(0)
    model = build_model(_small("rwsr-edl-x1-unshuffle4", init="default")).eval()
    save_model(model, tmp_path / "edl.safetensors")
    return tmp_path / "edl.safetensors"


def _upscale(model: Path, photo: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["upscale", str(photo), "-o", str(out), "--model", str(model), "--quiet", *extra]
    )
    return result.exit_code, result.output


def test_texture_1_is_the_plain_call_and_0_the_fidelity_branch(
    edl_file: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    rgb = np.random.default_rng(4).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    write_image(photo, rgb)
    outputs = {}
    for label, extra in (("plain", ()), ("1", ("--texture", "1")), ("0", ("--texture", "0"))):
        code, text = _upscale(edl_file, photo, tmp_path / label, *extra, "--precision", "fp32")
        assert code == 0, text
        outputs[label] = read_image(tmp_path / label / "photo_x1.png").astype(np.float32) / 255
    assert np.array_equal(outputs["1"], outputs["plain"])
    model = load_model(edl_file).model.eval()
    with torch.no_grad():
        photo_tensor = torch.from_numpy(rgb / 255).permute(2, 0, 1)[None].float()
        refined_y = model.head.branch_y(model.rrdb(photo_tensor))
    expected = refined_y[0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(outputs["0"] - expected).max() < 1.5 / 255
    assert np.abs(outputs["0"] - outputs["1"]).max() > 2 / 255  # the dial changes the image


def test_texture_on_a_model_without_an_edl_head_is_a_one_line_error(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_model(build_model(_small("rrdbnet-x1-unshuffle4")), tmp_path / "plain.safetensors")
    write_image(tmp_path / "photo.png", np.zeros((8, 8, 3), dtype=np.uint8))
    code, text = _upscale(
        tmp_path / "plain.safetensors", tmp_path / "photo.png", tmp_path / "out", "--texture", "0.5"
    )
    assert code != 0
    assert "--texture needs a model with the exclusionary dual-learning head" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_texture_outside_0_to_1_is_refused(edl_file: Path, tmp_path: Path) -> None:
    write_image(tmp_path / "photo.png", np.zeros((8, 8, 3), dtype=np.uint8))
    code, text = _upscale(edl_file, tmp_path / "photo.png", tmp_path / "out", "--texture", "1.5")
    assert code != 0 and "--texture must be between 0 and 1" in text
