"""Named pretrained weights: what ships inside the package and what can be downloaded.

Each entry is typed data (file or URL, SHA-256, scale, licence, how it was made). Downloads
go to the user's cache directory (`RWSR_CACHE_DIR` overrides it), are verified against the
pinned SHA-256 and written atomically; offline, the error says how to use a local file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs
from tqdm import tqdm

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, WeightsUnavailableError
from rwsr.models.checkpoint import LoadedModel, load_model


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    scale: int
    licence: str
    origin: str
    bundled_file: str | None = None  # path inside the rwsr package
    url: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None


DEFAULT_MODEL = "rwsr-edl-x4"

ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="rwsr-edl-x4",
        description="RWSR-EDL x4 generator (paper head at identity init) on the Impressionism DF2K RRDB",
        scale=4,
        licence="RRDB weights: RealSR (Apache-2.0) via realsr-ncnn-vulkan (MIT); see weights/NOTICE",
        origin=(
            "rwsr convert ncnn x4.param x4.bin --into rwsr-edl-x4 --dtype float16 --seed 0"
            " -o src/rwsr/weights/rwsr-edl-x4.safetensors (realsr-ncnn-vulkan models-DF2K)"
        ),
        bundled_file="weights/rwsr-edl-x4.safetensors",
        sha256="de64402bbb99a280c4cdd1a9f5d182a6c6a224f36ece7dbd9c7fbfa46bec0c05",
    ),
    ZooEntry(
        name="rrdb-l1-camerasr-x1",
        description=(
            "RRDBNet x1 (2 RRDBs, 32 features) trained by rwsr with L1 on City100 iPhone X"
            " pairs 021-090 + BSD100 photos: sharpens and cleans phone photos at their own size"
        ),
        scale=1,
        licence=(
            "weights: made by rwsr (see weights/NOTICE); data: City100 (MIT), BSD100 (research use)"
        ),
        origin=(
            "python experiments/reproduce.py camerasr-cpu -o results/camerasr_cpu, then"
            " python experiments/ship_model.py runs/camerasr_x1_cpu_psnr/best.pt"
            " -o src/rwsr/weights/rrdb-l1-camerasr-x1.safetensors"
        ),
        bundled_file="weights/rrdb-l1-camerasr-x1.safetensors",
        sha256="076081b62e69bd3f1cb55581a122460166422fa28fdc17355991bc86824116d0",
    ),
    ZooEntry(
        name="realesrgan-x4plus",
        description="Real-ESRGAN x4plus RRDBNet (general photos)",
        scale=4,
        licence="BSD-3-Clause (Real-ESRGAN)",
        origin="official Real-ESRGAN v0.1.0 release",
        url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
        sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        size_bytes=67_040_989,
    ),
    ZooEntry(
        name="realesrgan-x2plus",
        description="Real-ESRGAN x2plus RRDBNet (pixel-unshuffle input)",
        scale=2,
        licence="BSD-3-Clause (Real-ESRGAN)",
        origin="official Real-ESRGAN v0.2.1 release",
        url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
        sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        size_bytes=67_061_725,
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


def weights_path(entry: ZooEntry, *, progress: bool = True) -> Path:
    """Local file of a zoo entry: the bundled file, the verified cache, or a fresh download."""
    if entry.bundled_file is not None:
        bundled = Path(str(resources.files("rwsr").joinpath(entry.bundled_file)))
        if entry.sha256 is not None and sha256_of(bundled) != entry.sha256:
            raise WeightsUnavailableError(
                f"{bundled}: SHA-256 does not match the pinned {entry.sha256} for"
                f" '{entry.name}'; the installed package is damaged: reinstall rwsr"
            )
        return bundled
    assert entry.url is not None and entry.sha256 is not None
    target = cache_dir() / Path(entry.url).name
    if target.is_file():
        if sha256_of(target) == entry.sha256:
            return target
        raise WeightsUnavailableError(
            f"{target}: SHA-256 does not match the pinned {entry.sha256} for '{entry.name}';"
            " delete the file to download it again"
        )
    _download(entry, target, progress=progress)
    return target


def _download(entry: ZooEntry, target: Path, *, progress: bool) -> None:
    assert entry.url is not None
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(entry.url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or entry.size_bytes
                with tqdm(
                    total=total, unit="B", unit_scale=True, desc=entry.name, disable=not progress
                ) as bar:
                    while block := response.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            actual = sha256_of(tmp)
            if actual != entry.sha256:
                raise WeightsUnavailableError(
                    f"downloaded '{entry.name}' from {entry.url}, but its SHA-256 is {actual},"
                    f" not the pinned {entry.sha256}; the file was discarded"
                )
    except OSError as error:
        raise WeightsUnavailableError(
            f"cannot download '{entry.name}' from {entry.url} ({error}). Offline, download that file"
            f" elsewhere and pass its path with --model PATH, or copy it to {target}"
        ) from None


def load_generator(
    name_or_path: str, *, scale: int | None = None, progress: bool = True
) -> LoadedModel:
    """A generator from a zoo name (bundled or downloaded) or any checkpoint file rwsr reads."""
    known = {entry.name for entry in ZOO}
    if name_or_path in known:
        return load_model(weights_path(zoo_entry(name_or_path), progress=progress), scale=scale)
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(
            f"--model '{name_or_path}' is neither a known model ({', '.join(sorted(known))}) nor a file"
        )
    loaded = load_model(path, scale=scale)
    if loaded.config.arch in ("patchgan", "vgg128"):
        raise ConfigError(f"{path}: holds a {loaded.config.arch} discriminator, not a generator")
    return loaded
