"""Model zoo: the bundled default, true names, downloads and builds with pinned hashes,
tampered files, offline errors."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch
from shared_data import RRDB_L1_X1, RWSR_EDL_X1

import rwsr
from rwsr.errors import WeightsUnavailableError
from rwsr.models.catalog import BUILTIN_ARCHITECTURES, generator_scale
from rwsr.models.checkpoint import save_model
from rwsr.models.edl import RWSREDL
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, ZOO, Download, load_generator, weights_path, zoo_entry

CAMERASR = "rwsr-edl-camerasr-unshuffle4-x1"  # the shipped x1 CameraSR model


def test_bundled_default_is_real_esrgan_x4plus_as_a_plain_rrdbnet() -> None:
    loaded = load_generator(DEFAULT_MODEL)
    assert DEFAULT_MODEL == "realesrgan-x4plus"
    assert isinstance(loaded.model, RRDBNet) and loaded.config == RRDBNetConfig(scale=4)
    assert sum(p.numel() for p in loaded.model.parameters()) == 16_697_987
    assert loaded.dtype == torch.float16
    assert loaded.metadata["source"] == "ncnn realesrgan-x4plus.param + realesrgan-x4plus.bin"


def test_zoo_names_never_spell_an_architecture() -> None:
    assert not {entry.name for entry in ZOO} & set(BUILTIN_ARCHITECTURES)
    for entry in ZOO:  # rwsr-edl-* names belong to weights rwsr trained with the EDL head
        if entry.name.startswith("rwsr-edl-"):
            assert entry.architecture.startswith("RWSR-EDL") and entry.source.startswith("rwsr")
            assert isinstance(load_generator(entry.name).model, RWSREDL)


def test_the_impressionism_entry_is_made_from_its_ncnn_files(
    ncnn_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first use downloads x4.param and x4.bin (here: file:// URLs of the same files in
    ../shared), converts them and must produce exactly the file whose hash is pinned."""
    monkeypatch.setenv("RWSR_CACHE_DIR", str(tmp_path / "cache"))
    entry = zoo_entry("impressionism-df2k-x4")
    folder = ncnn_models / "impressionism_df2k_x4"
    local = tuple(
        dataclasses.replace(d, url=(folder / Path(d.url).name).as_uri()) for d in entry.downloads
    )
    path = weights_path(dataclasses.replace(entry, downloads=local), progress=False)
    assert path == tmp_path / "cache" / "models" / "impressionism-df2k-x4.safetensors"
    loaded = load_generator("impressionism-df2k-x4")  # from the cache now: no download
    assert isinstance(loaded.model, RRDBNet) and loaded.config == RRDBNetConfig(scale=4)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no leftovers


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
    """A downloaded zoo entry whose file is the one at `url`."""
    return dataclasses.replace(
        zoo_entry("realesrgan-x2plus"),
        name="tiny",
        file=Path(url).name,
        sha256=sha256,
        downloads=(Download(url, sha256, 0),),
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


def test_offline_error_names_every_published_file_and_the_install_command(cache: Path) -> None:
    entry = zoo_entry("realesr-general-x4v3")
    offline = tuple(
        dataclasses.replace(d, url=f"http://127.0.0.1:9/{Path(d.url).name}")
        for d in entry.downloads
    )
    with pytest.raises(WeightsUnavailableError) as caught:
        weights_path(dataclasses.replace(entry, downloads=offline), progress=False)
    message = str(caught.value)
    assert all(download.url in message for download in offline)
    assert "`rwsr models install realesr-general-x4v3 FILE...`" in message
    assert not list(cache.iterdir())  # nothing half-made is left in the cache


def test_zoo_entries_are_complete_and_their_licence_texts_ship() -> None:
    package = Path(rwsr.__file__).parent
    for entry in ZOO:
        assert entry.licence and entry.source and entry.made and entry.architecture
        assert len(entry.sha256) == 64 and entry.licence_files
        for name in entry.licence_files:
            assert (package / name).is_file(), name
        if not entry.bundled:
            assert entry.downloads and all(d.url.startswith("https://") for d in entry.downloads)
            assert all(len(d.sha256) == 64 for d in entry.downloads)


def test_a_tampered_cached_file_is_refused(cache: Path, published: tuple[Path, str]) -> None:
    path, digest = published
    entry = _entry(path.as_uri(), digest)
    local = weights_path(entry, progress=False)
    data = bytearray(local.read_bytes())
    data[100] ^= 1
    local.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailableError) as caught:
        weights_path(entry, progress=False)
    message = str(caught.value)
    assert str(local) in message and digest in message and "delete the file" in message


def test_any_checkpoint_path_is_a_model(tmp_path: Path, tiny_model: torch.nn.Module) -> None:
    save_model(tiny_model, tmp_path / "t.safetensors")
    assert load_generator(str(tmp_path / "t.safetensors")).config == tiny_model.config


def test_the_camerasr_model_sharpens_a_held_out_photo_through_the_cli(
    city100: Path, tmp_path: Path
) -> None:
    """rwsr's shipped CameraSR model on a full iPhone X photo held out from training (pair 091
    of the validation pairs 091-100; its weights are its run's last, chosen on nothing, but
    shipping that run over an earlier one was decided on these pairs), tiled: same size, closer
    to the HR photo than the LR photo is, structurally and in PSNR (SSIM 0.7610 against 0.7536,
    +0.0074; PSNR 26.670 against 26.245 dB, +0.43 dB; measured on a 2-core CPU)."""
    from typer.testing import CliRunner

    from rwsr.cli.main import app
    from rwsr.imageio import read_image
    from rwsr.metrics.psnr_ssim import psnr, ssim

    result = CliRunner().invoke(
        app,
        [
            "upscale",
            str(city100 / "091L.PNG"),
            f"--model={CAMERASR}",
            "--tile=256",
            f"--output={tmp_path}",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    lr, hr = read_image(city100 / "091L.PNG"), read_image(city100 / "091H.PNG")
    sr = read_image(tmp_path / "091L_x1.png")
    assert sr.shape == lr.shape == (600, 840, 3)
    assert ssim(sr, hr, crop_border=4) > ssim(lr, hr, crop_border=4) + 0.005
    assert psnr(sr, hr, crop_border=4) > psnr(lr, hr, crop_border=4) + 0.3


def test_a_tampered_bundled_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = zoo_entry(CAMERASR)
    copy = tmp_path / "weights" / entry.file
    copy.parent.mkdir(parents=True)
    data = bytearray(weights_path(entry).read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    monkeypatch.setattr("rwsr.models.zoo.resources.files", lambda package: tmp_path)
    with pytest.raises(WeightsUnavailableError) as caught:
        load_generator(CAMERASR)
    assert str(copy) in str(caught.value) and entry.sha256 in str(caught.value)


def test_bundled_files_match_their_pinned_hashes_and_notice() -> None:
    notice = (Path(weights_path(zoo_entry(DEFAULT_MODEL))).parent / "NOTICE").read_text()
    for entry in ZOO:
        if entry.bundled:
            assert hashlib.sha256(weights_path(entry).read_bytes()).hexdigest() == entry.sha256
            assert entry.file in notice and entry.sha256 in notice
    loaded = load_generator(CAMERASR)
    assert generator_scale(loaded.config) == 1 and loaded.dtype == torch.float16
    assert loaded.metadata["source"] == (
        "experiments/device_check.py camerasr_gan, 1800 it, batch 16, 128 px crops"
    )


def test_the_retired_camerasr_models_are_test_fixtures_with_their_provenance() -> None:
    """rwsr-edl-camerasr-x1 and rrdb-l1-camerasr-x1 left the zoo for tests/fixtures/models,
    whose README keeps their provenance and hashes."""
    readme = (RWSR_EDL_X1.parent.parent / "README.md").read_text()
    for path, network, source in (
        (RWSR_EDL_X1, RWSREDL, "runs/camerasr_x1_cpu_ema/best.pt"),
        (RRDB_L1_X1, RRDBNet, "runs/camerasr_x1_cpu_psnr/best.pt"),
    ):
        assert path.stem not in {entry.name for entry in ZOO}
        assert f"`{path.name}`" in readme
        assert hashlib.sha256(path.read_bytes()).hexdigest() in readme
        loaded = load_generator(str(path))
        assert isinstance(loaded.model, network) and generator_scale(loaded.config) == 1
        assert loaded.dtype == torch.float16 and source in loaded.metadata["source"]


def test_info_tells_a_zoo_model_from_an_architecture() -> None:
    from typer.testing import CliRunner

    from rwsr.cli.main import app

    zoo = CliRunner().invoke(app, ["info", DEFAULT_MODEL])
    assert zoo.exit_code == 0, zoo.output
    entry = zoo_entry(DEFAULT_MODEL)
    assert "zoo model:" in zoo.output and "(trained weights, the default)" in zoo.output
    assert f"{entry.sha256} (checked)" in zoo.output and "LICENSE-Real-ESRGAN" in zoo.output
    assert "16,697,987" in zoo.output
    architecture = CliRunner().invoke(app, ["info", "rwsr-edl-x4"])
    assert architecture.exit_code == 0, architecture.output
    assert "architecture name:" in architecture.output and "random weights" in architecture.output
    assert "16,729,694" in architecture.output
