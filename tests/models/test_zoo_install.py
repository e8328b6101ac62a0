"""The compact zoo model made from its pinned ncnn files, and `rwsr models install`: a zoo
model made offline from files downloaded elsewhere, each checked against its pinned hash."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch
from ncnn_files import write_compact_ncnn  # tests/models/ncnn_files.py
from shared_data import COMPACT_NCNN
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.errors import ConfigError, InputError, WeightsUnavailableError
from rwsr.models.compact import CompactConfig, SRVGGNetCompact
from rwsr.models.ncnn import ncnn_to_safetensors
from rwsr.models.zoo import ZOO, Download, install, load_generator, weights_path, zoo_entry

COMPACT = "realesr-general-x4v3"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RWSR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published_files() -> tuple[Path, Path]:
    """Upscayl's realesr-general-x4v3 .param (CRLF line endings) and .bin (test fixtures)."""
    return (
        COMPACT_NCNN / "realesr-general-x4v3.param",
        COMPACT_NCNN / "realesr-general-x4v3.bin",
    )


def test_the_compact_entry_is_made_from_its_pinned_downloads(
    published_files: tuple[Path, Path], cache: Path, tmp_path: Path
) -> None:
    """The pinned files are the fixture's bytes (the .param with git's LF line endings); made
    from them through the download code (file:// URLs), the file has the pinned hash."""
    entry = zoo_entry(COMPACT)
    server = tmp_path / "server"
    server.mkdir()
    param, weights = published_files
    published = (param.read_bytes().replace(b"\r\n", b"\n"), weights.read_bytes())
    local = []
    for download, data in zip(entry.downloads, published):
        path = server / Path(download.url).name
        path.write_bytes(data)
        assert _sha256(path) == download.sha256 and len(data) == download.size_bytes
        local.append(dataclasses.replace(download, url=path.as_uri()))
    path = weights_path(dataclasses.replace(entry, downloads=tuple(local)), progress=False)
    assert path == cache / "realesr-general-x4v3.safetensors"
    assert path.stat().st_size == entry.size_bytes
    loaded = load_generator(COMPACT)  # from the cache now: no download
    assert isinstance(loaded.model, SRVGGNetCompact) and loaded.config == CompactConfig()
    assert loaded.dtype == torch.float16
    assert loaded.metadata["source"] == (
        "ncnn RealESRGAN_General_x4_v3.param + RealESRGAN_General_x4_v3.bin"
    )
    assert [p.name for p in cache.iterdir()] == [path.name]  # no leftovers


def test_installed_offline_from_the_published_files(
    published_files: tuple[Path, Path], cache: Path
) -> None:
    """Other names, CRLF line endings, any order: the same file as a download makes."""
    param, weights = published_files
    result = CliRunner().invoke(app, ["models", "install", COMPACT, str(weights), str(param)])
    assert result.exit_code == 0, result.output
    path = cache / "realesr-general-x4v3.safetensors"
    assert f"installed {COMPACT}: {path} (SHA-256 checked)" in result.output
    assert _sha256(path) == zoo_entry(COMPACT).sha256
    assert isinstance(load_generator(COMPACT).model, SRVGGNetCompact)
    assert [p.name for p in cache.iterdir()] == [path.name]


@pytest.fixture
def tiny_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A zoo entry 'tiny-compact' made from a small ncnn compact graph written here (its
    .param published with LF, handed to install with CRLF), added to the zoo; returns the
    files a user would have downloaded."""
    torch.manual_seed(0)
    model = SRVGGNetCompact(CompactConfig(nf=8, num_conv=2, scale=2)).eval()
    published = tmp_path / "published"
    published.mkdir()
    param, weights = published / "tiny.param", published / "tiny.bin"
    write_compact_ncnn(model, param, weights)
    made = tmp_path / "made.safetensors"
    ncnn_to_safetensors(param, weights, made, dtype=torch.float16)
    entry = dataclasses.replace(
        zoo_entry(COMPACT),
        name="tiny-compact",
        file="tiny-compact.safetensors",
        sha256=_sha256(made),
        size_bytes=made.stat().st_size,
        downloads=tuple(
            Download(f"https://example.invalid/{path.name}", _sha256(path), path.stat().st_size)
            for path in (param, weights)
        ),
    )
    monkeypatch.setattr("rwsr.models.zoo.ZOO", (*ZOO, entry))
    user = tmp_path / "downloads"
    user.mkdir()
    (user / "tiny-x2.param").write_bytes(param.read_bytes().replace(b"\n", b"\r\n"))
    (user / "tiny-x2.bin").write_bytes(weights.read_bytes())
    return user / "tiny-x2.param", user / "tiny-x2.bin"


def test_a_tiny_entry_installs_offline(tiny_entry: tuple[Path, Path], cache: Path) -> None:
    path = install("tiny-compact", list(tiny_entry))
    assert path == cache / "tiny-compact.safetensors"
    loaded = load_generator("tiny-compact")  # the cached file, hash checked: no download
    assert isinstance(loaded.model, SRVGGNetCompact) and loaded.config.scale == 2
    assert loaded.metadata["source"] == "ncnn tiny.param + tiny.bin"  # the published names
    assert [p.name for p in cache.iterdir()] == [path.name]


def test_a_file_with_the_wrong_hash_is_refused(tiny_entry: tuple[Path, Path], cache: Path) -> None:
    param, weights = tiny_entry
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    expected = zoo_entry("tiny-compact").downloads[1].sha256
    result = CliRunner().invoke(
        app, ["models", "install", "tiny-compact", str(param), str(weights)]
    )
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith(f"error: {weights}: SHA-256 ") and "\n" not in message
    assert f"needs tiny.bin with SHA-256 {expected}" in message and "nothing installed" in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_changed_param_text_is_refused(tiny_entry: tuple[Path, Path], cache: Path) -> None:
    param, weights = tiny_entry
    param.write_text(param.read_text().replace("0=8", "0=9", 1))
    with pytest.raises(WeightsUnavailableError, match=r"of its text with LF line endings"):
        install("tiny-compact", [param, weights])


def test_install_needs_each_published_file_once(tiny_entry: tuple[Path, Path], cache: Path) -> None:
    param, weights = tiny_entry
    for files in ([param], [param, param], [param, weights, weights]):
        with pytest.raises(InputError, match="is made from tiny.param and tiny.bin: give each"):
            install("tiny-compact", files)
    with pytest.raises(ConfigError, match="ships inside rwsr"):
        install("realesrgan-x4plus", [weights])


def test_a_copied_entry_installs_offline(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `copy` entry (a .pth as published) installs as the file itself."""
    torch.manual_seed(0)
    source = tmp_path / "tiny.pth"
    torch.save({"params": SRVGGNetCompact(CompactConfig(nf=4, num_conv=1)).state_dict()}, source)
    digest = _sha256(source)
    entry = dataclasses.replace(
        zoo_entry("realesrgan-x2plus"),
        name="tiny-copy",
        file="tiny.pth",
        sha256=digest,
        downloads=(Download("https://example.invalid/tiny.pth", digest, 0),),
    )
    monkeypatch.setattr("rwsr.models.zoo.ZOO", (*ZOO, entry))
    path = install("tiny-copy", [source])
    assert path.read_bytes() == source.read_bytes()
    assert load_generator("tiny-copy").key_format == "compact"
