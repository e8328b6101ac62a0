"""Model zoo: the bundled default, downloads with pinned hashes, offline errors."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch

from rwsr.errors import WeightsUnavailableError
from rwsr.models.checkpoint import save_model
from rwsr.models.edl import RWSREDL
from rwsr.models.zoo import DEFAULT_MODEL, ZOO, load_generator, weights_path, zoo_entry


def test_bundled_default_is_the_paper_model_at_identity_head() -> None:
    loaded = load_generator(DEFAULT_MODEL)
    model = loaded.model
    assert isinstance(model, RWSREDL)
    assert sum(p.numel() for p in model.parameters()) == 16_729_694
    assert loaded.dtype == torch.float16
    assert "ncnn" in loaded.metadata["source"]
    with torch.no_grad():
        image = torch.rand(1, 3, 16, 16)
        out = model(image, return_terms=True)
    # Identity head: the fused output is the RRDB trunk's image.
    torch.testing.assert_close(out.sr, out.intermediate, atol=1e-5, rtol=0)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RWSR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def published(tmp_path: Path, tiny_model: torch.nn.Module) -> tuple[Path, str]:
    """A checkpoint 'published' at a file:// URL, read through the real download code."""
    path = tmp_path / "server" / "tiny.pth"
    path.parent.mkdir()
    torch.save({"params_ema": tiny_model.state_dict()}, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(url: str, sha256: str):
    return dataclasses.replace(
        zoo_entry("realesrgan-x4plus"), name="tiny", url=url, sha256=sha256, size_bytes=None
    )


def test_download_verifies_and_caches(cache: Path, published: tuple[Path, str]) -> None:
    path, digest = published
    entry = _entry(path.as_uri(), digest)
    local = weights_path(entry, progress=False)
    assert local == cache / "tiny.pth" and local.read_bytes() == path.read_bytes()
    path.unlink()  # the second call must not need the server
    assert weights_path(entry, progress=False) == local


def test_download_with_wrong_hash_is_discarded(cache: Path, published: tuple[Path, str]) -> None:
    path, _ = published
    with pytest.raises(WeightsUnavailableError, match="SHA-256 is .* not the pinned"):
        weights_path(_entry(path.as_uri(), "0" * 64), progress=False)
    assert not (cache / "tiny.pth").exists()
    assert not list(cache.glob("*")) if cache.exists() else True


def test_offline_error_says_how_to_use_a_local_file(cache: Path) -> None:
    entry = _entry("http://127.0.0.1:9/RealESRGAN_x4plus.pth", "0" * 64)
    with pytest.raises(WeightsUnavailableError) as caught:
        weights_path(entry, progress=False)
    message = str(caught.value)
    assert "--model PATH" in message and str(cache / "RealESRGAN_x4plus.pth") in message


def test_zoo_entries_are_complete() -> None:
    for entry in ZOO:
        assert entry.licence and entry.origin
        if entry.bundled_file is None:
            assert entry.url and entry.url.startswith("https://") and len(entry.sha256 or "") == 64


def test_any_checkpoint_path_is_a_model(tmp_path: Path, tiny_model: torch.nn.Module) -> None:
    save_model(tiny_model, tmp_path / "t.safetensors")
    assert load_generator(str(tmp_path / "t.safetensors")).config == tiny_model.config


def test_the_camerasr_model_sharpens_a_held_out_phone_photo_through_the_cli(
    city100: Path, tmp_path: Path
) -> None:
    """rwsr's own CameraSR model on a full iPhone X photo it never trained on (pair 091),
    tiled: same size, closer to the HR photo than the LR photo is."""
    from typer.testing import CliRunner

    from rwsr.cli.main import app
    from rwsr.imageio import read_image
    from rwsr.metrics.psnr_ssim import psnr

    result = CliRunner().invoke(
        app,
        [
            "upscale",
            str(city100 / "091L.PNG"),
            "--model=rrdb-l1-camerasr-x1",
            "--tile=256",
            f"--output={tmp_path}",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    lr, hr = read_image(city100 / "091L.PNG"), read_image(city100 / "091H.PNG")
    sr = read_image(tmp_path / "091L_x1.png")
    assert sr.shape == lr.shape == (600, 840, 3)
    assert psnr(sr, hr, crop_border=4) > psnr(lr, hr, crop_border=4) + 0.1


def test_a_tampered_bundled_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = zoo_entry("rrdb-l1-camerasr-x1")
    copy = tmp_path / entry.bundled_file
    copy.parent.mkdir(parents=True)
    data = bytearray(weights_path(entry).read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    monkeypatch.setattr("rwsr.models.zoo.resources.files", lambda package: tmp_path)
    with pytest.raises(WeightsUnavailableError) as caught:
        load_generator("rrdb-l1-camerasr-x1")
    assert str(copy) in str(caught.value) and entry.sha256 in str(caught.value)


def test_bundled_files_match_their_pinned_hashes_and_notice() -> None:
    notice = (Path(weights_path(zoo_entry(DEFAULT_MODEL))).parent / "NOTICE").read_text()
    for entry in ZOO:
        if entry.bundled_file is not None:
            assert len(entry.sha256 or "") == 64
            assert hashlib.sha256(weights_path(entry).read_bytes()).hexdigest() == entry.sha256
            assert Path(entry.bundled_file).name in notice and entry.sha256 in notice
    loaded = load_generator("rrdb-l1-camerasr-x1")
    assert loaded.config.scale == 1 and loaded.dtype == torch.float16
    assert "runs/camerasr_x1_cpu_psnr/best.pt" in loaded.metadata["source"]
