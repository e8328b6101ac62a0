"""`rwsr convert`: a model into rwsr safetensors, ONNX or ncnn, or ncnn files into rwsr, the
direction read from the file names; each output proved on a real photo before it is kept.

- rwsr safetensors (float32 or float16): the written file is loaded again and must give the
  same pixels as the source model with its weights rounded to the stored dtype.
- ONNX (torch.onnx's dynamo exporter, opset 18 by default) with dynamic height and width:
  onnxruntime on the CPU must agree with PyTorch to CHECK_PSNR_DB at two different sizes,
  so that a size baked into the graph is caught. Windowed transformers (SwinIR, HAT) pad to
  their window inside Python, which the exporter fixes at the traced size; for them the
  graph takes sizes that are multiples of a block (the smallest of 8, 16, 32, 64 for which
  both sizes agree), recorded in the file's metadata as `rwsr.size_multiple`.
- ncnn (.param + .bin, rwsr.models.ncnn_export; fp16 weights by default, as Upscayl's): the
  ncnn runtime (the `ncnn` wheel, CPU, fp32 arithmetic) must agree with PyTorch to
  NCNN_CHECK_PSNR_DB at the same two sizes, off the multiples of 4 (the tiles of Upscayl and
  realesrgan-ncnn-vulkan have any size).
- An ncnn .param source is imported (rwsr.models.ncnn, proved against the ncnn graph) and
  written as rwsr safetensors, or as ONNX from the imported network.

A model with NaN/Inf weights is refused before anything is written (the tensors named), and
NaN never counts as agreement: a broken model cannot prove itself by matching itself.

The photo is the bundled sample (a crop of a City100 iPhone X photo) unless one is given.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, InputError, RwsrError
from rwsr.models.catalog import describe, generator_scale
from rwsr.models.checkpoint import (
    check_finite_weights,
    load_model,
    non_finite_tensors,
    save_model,
)
from rwsr.models.foreign import SpandrelGenerator
from rwsr.models.ncnn_export import INPUT_BLOB, OUTPUT_BLOB
from rwsr.outputs import check_output_file

CHECK_PSNR_DB = 50.0
# fp16 weights, as the ncnn programs' own models: their rounding alone costs some dB.
NCNN_CHECK_PSNR_DB = 45.0
DEFAULT_OPSET = 18
SIZE_MULTIPLES = (1, 8, 16, 32, 64)
# (height, width) of the two check crops: no common factor with the windows of 8 to 64, so a
# graph that only works at multiples of a window fails one of them; rounded to the multiple.
CHECK_SIZES = ((45, 61), (38, 70))
STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# What `rwsr convert` writes, by the suffix of -o.
OUTPUT_FORMATS = {".safetensors": "safetensors", ".onnx": "onnx", ".param": "ncnn"}
# Options of `rwsr convert` and the directions they apply to ("import": ncnn to safetensors).
_OPTION_DIRECTIONS = {
    "--dtype": ("import", "safetensors", "ncnn"),
    "--opset": ("onnx",),
    "--into": ("import",),
    "--seed": ("import",),
    "--check-image": ("safetensors", "onnx", "ncnn"),
}


@dataclass(frozen=True)
class ExportReport:
    path: Path
    detail: str  # what was proved, with the agreement in dB


def check_photo(path: str | os.PathLike[str] | None = None) -> np.ndarray:
    """RGB float32 [0, 1] photo for the checks: `path`, or the bundled sample photo."""
    source = Path(path) if path else Path(str(resources.files("rwsr") / "assets" / "sample.png"))
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"--check-image {source}: not an image OpenCV can read")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255


def _crop(photo: np.ndarray, height: int, width: int) -> torch.Tensor:
    if photo.shape[0] < height or photo.shape[1] < width:
        raise InputError(
            f"the check photo is {photo.shape[1]}x{photo.shape[0]}; it needs at least"
            f" {width}x{height} pixels"
        )
    top, left = (photo.shape[0] - height) // 2, (photo.shape[1] - width) // 2
    crop = photo[top : top + height, left : left + width]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Agreement of two 1x3xHxW outputs in dB: PSNR with peak 1 over all pixels and channels
    of both clipped to [0, 1], in float64 (rwsr.metrics' RGB PSNR without a crop, which
    models/ does not import: a check of an export is no image-quality metric). inf when
    identical, -inf when either holds NaN/Inf (NaN equal to NaN is no agreement)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return -math.inf
    a, b = (np.clip(out.astype(np.float64), 0, 1) for out in (a, b))
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def _run(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model(x).float().numpy()


def _store_dtype(dtype: str) -> torch.dtype:
    if dtype not in STORE_DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(STORE_DTYPES)}, but got '{dtype}'")
    return STORE_DTYPES[dtype]


def _rounded(model: nn.Module, dtype: str, name: str) -> nn.Module:
    """A float32 copy of `model` with its weights rounded to `dtype`; NaN/Inf weights, or
    weights beyond the range of `dtype`, refused by name."""
    stored = _store_dtype(dtype)
    check_finite_weights(model, name)
    rounded = copy.deepcopy(model).to(stored).float().eval()
    overflowing = non_finite_tensors(rounded)  # float16 ends at 65504
    if overflowing:
        raise ConfigError(
            f"{name}: weights beyond the range of {dtype} in {', '.join(overflowing[:4])};"
            " use --dtype float32"
        )
    return rounded


def export_safetensors(
    model: nn.Module,
    output: Path,
    *,
    dtype: str,
    photo: np.ndarray,
    overwrite: bool,
    metadata: dict[str, str],
    name: str,
) -> ExportReport:
    """Write `model` as rwsr safetensors in `dtype`; the reload must match it exactly. `name`
    is how errors name the model (its file or zoo name)."""
    source = copy.deepcopy(model).float().eval()  # the caller's model keeps its dtype and mode
    rounded = _rounded(source, dtype, name)
    save_model(model, output, dtype=STORE_DTYPES[dtype], overwrite=overwrite, metadata=metadata)
    x = _crop(photo, *CHECK_SIZES[0])
    reloaded = _run(load_model(output).model.float().eval(), x)
    agreement = _psnr(reloaded, _run(rounded, x))
    if agreement != math.inf:
        output.unlink()
        raise RwsrError(
            f"{output}: the reloaded file differs from the model ({agreement:.1f} dB); removed"
        )
    against_source = _psnr(reloaded, _run(source, x))
    return ExportReport(
        output,
        f"reload identical to the {dtype} weights; {against_source:.1f} dB against the"
        " float32 source",
    )


@contextlib.contextmanager
def _removed_afterwards(path: Path) -> Iterator[None]:
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


class _Exportable(nn.Module):
    """The traced function: the plain network, without the engine's fused convolutions."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image).clamp(0, 1)


def export_onnx(
    model: nn.Module,
    output: Path,
    *,
    opset: int,
    photo: np.ndarray,
    overwrite: bool,
    name: str,
) -> ExportReport:
    """Write `model` as ONNX with dynamic height and width, verified with onnxruntime."""
    check_finite_weights(model, name)
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError(
            "ONNX export needs the onnx, onnxscript and onnxruntime packages:"
            " pip install 'rwsr[onnx]'"
        ) from None
    module = _Exportable(copy.deepcopy(model).float().eval()).eval()
    scale = generator_scale(model.config)
    base = getattr(getattr(model.config, "rrdb", model.config), "input_unshuffle", 1)
    multiples = SIZE_MULTIPLES if isinstance(model, SpandrelGenerator) else (base,)
    tried = []
    with (
        atomic_path(output, overwrite=overwrite) as tmp,
        # The exporter writes the weights beside the graph as NAME.data; they are saved
        # inline below, and that file goes, whether the export is kept or not.
        _removed_afterwards(tmp.with_name(f"{tmp.name}.data")),
    ):
        for multiple in multiples:
            multiple = max(multiple, base)
            sizes = [(h // multiple * multiple, w // multiple * multiple) for h, w in CHECK_SIZES]
            height, width = (torch.export.Dim(f"{axis}_blocks", min=1, max=8192) for axis in "hw")
            example = _crop(photo, *sizes[0])
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")  # the exporter's notes on the traced code
                torch.onnx.export(
                    module,
                    (example,),
                    str(tmp),
                    dynamo=True,
                    opset_version=opset,
                    input_names=["image"],
                    output_names=["upscaled"],
                    dynamic_shapes={"image": {2: multiple * height, 3: multiple * width}},
                    verbose=False,
                )
            session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            agreement = math.inf
            for size in sizes:
                x = _crop(photo, *size)
                try:
                    ort_out = session.run(None, {"image": x.numpy()})[0]
                except Exception:  # noqa: BLE001 - onnxruntime raises its own Fail types
                    agreement = -math.inf
                    break
                expected = _run(module, x)
                agreement = (
                    min(agreement, _psnr(ort_out, expected))
                    if ort_out.shape == expected.shape
                    else -math.inf
                )
            tried.append(f"multiples of {multiple}: {agreement:.1f} dB")
            if agreement >= CHECK_PSNR_DB:
                break
        else:
            raise RwsrError(
                f"{name}: onnxruntime does not reproduce the model at two sizes"
                f" ({'; '.join(tried)}); no file written"
            )
        graph = onnx.load(str(tmp))
        described = describe(model.config)
        for key, value in {
            "rwsr.model": name,
            "rwsr.architecture": str(described["architecture"]),
            "rwsr.scale": str(scale),
            "rwsr.size_multiple": str(multiple),
            "rwsr.input": "image: float32 RGB [0, 1], NCHW; output: scale x the input size",
        }.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
    size_rule = (
        "any height and width" if multiple == 1 else f"height and width multiples of {multiple}"
    )
    return ExportReport(
        output,
        f"opset {opset}, {size_rule}; onnxruntime (CPU) agrees with PyTorch to"
        f" {agreement:.1f} dB at {sizes[0][1]}x{sizes[0][0]} and {sizes[1][1]}x{sizes[1][0]}",
    )


def _reference(model: nn.Module, x: torch.Tensor, multiple: int, scale: int) -> np.ndarray:
    """PyTorch's output for the ncnn graph to match: for a pixel-unshuffle model at a size
    that is no multiple of its factor, the model on the image mirrored to the next multiple
    (as the graph does it), cropped to scale x the size."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="reflect")
    return _run(model, padded)[..., : height * scale, : width * scale]


def _run_ncnn(param: Path, weights: Path, x: torch.Tensor) -> np.ndarray | None:
    """The ncnn runtime's output for a 1x3xHxW input (CPU, fp32 arithmetic: what the file
    computes, not what this CPU's fp16 units make of it); None if ncnn refuses the files."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    # One thread: the check crops are small, and ncnn's OpenMP threads spin against a busy
    # machine (3 s instead of 0.05 s for a 61x45 x1 RWSR-EDL with two cores loaded).
    net.opt.num_threads = 1
    for option in (
        "use_fp16_storage",
        "use_fp16_packed",
        "use_fp16_arithmetic",
        "use_bf16_storage",
    ):
        setattr(net.opt, option, False)
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        return None
    image = np.ascontiguousarray(x[0].numpy())  # kept in a name: ncnn.Mat borrows its memory
    mat = ncnn.Mat(image)
    extractor = net.create_extractor()
    extractor.input(INPUT_BLOB, mat)
    status, out = extractor.extract(OUTPUT_BLOB)
    return np.array(out)[None] if status == 0 else None


def _upscayl_scale(stem: str) -> int:
    """The scale Upscayl reads from a model's file name (x1/1x first, then x2, ...; x4 when
    none is there)."""
    for scale in (1, 2, 3, 4, 8, 16):
        if f"x{scale}" in stem or f"{scale}x" in stem:
            return scale
    return 4


def export_ncnn(
    model: nn.Module,
    output: Path,
    *,
    dtype: str = "float16",
    photo: np.ndarray,
    overwrite: bool,
    name: str,
) -> ExportReport:
    """Write `model` as ncnn files, `output` (.param) and the .bin beside it, verified with the
    ncnn runtime; both are written or neither."""
    from rwsr.models.ncnn_export import ncnn_files

    source = copy.deepcopy(model).float().eval()
    _rounded(source, dtype, name)  # refuses NaN/Inf and weights float16 cannot hold
    try:
        import ncnn  # noqa: F401 - the proof runs it
    except ImportError:
        raise ConfigError(
            "ncnn export proves its files with the ncnn runtime: pip install 'rwsr[ncnn]'"
        ) from None
    text, weights = ncnn_files(source, fp16=dtype == "float16")
    scale = generator_scale(model.config)
    multiple = getattr(getattr(model.config, "rrdb", model.config), "input_unshuffle", 1)
    weights_path = output.with_suffix(".bin")
    # The .bin is renamed into place before the .param: a .param seen has its weights.
    with (
        atomic_path(output, overwrite=overwrite) as param_tmp,
        atomic_path(weights_path, overwrite=overwrite) as weights_tmp,
    ):
        param_tmp.write_text(text, encoding="utf-8")
        weights_tmp.write_bytes(weights)
        agreement = math.inf
        for size in CHECK_SIZES:
            x = _crop(photo, *size)
            ncnn_out = _run_ncnn(param_tmp, weights_tmp, x)
            expected = _reference(source, x, multiple, scale)
            same_shape = ncnn_out is not None and ncnn_out.shape == expected.shape
            agreement = min(agreement, _psnr(ncnn_out, expected) if same_shape else -math.inf)
        if agreement < NCNN_CHECK_PSNR_DB:
            raise RwsrError(
                f"{name}: the ncnn runtime does not reproduce the model ({agreement:.1f} dB,"
                f" {NCNN_CHECK_PSNR_DB:.0f} needed); no file written"
            )
    (h1, w1), (h2, w2) = CHECK_SIZES
    detail = (
        f"ncnn graph + {weights_path.name} ({dtype} weights), input '{INPUT_BLOB}', output"
        f" '{OUTPUT_BLOB}' (RGB in [0, 1]); the ncnn runtime (CPU) agrees with PyTorch to"
        f" {agreement:.1f} dB at {w1}x{h1} and {w2}x{h2}"
    )
    if _upscayl_scale(output.stem) != scale:
        detail += (
            f". Upscayl reads the scale from the file name and would take"
            f" x{_upscayl_scale(output.stem)}: name it e.g. {output.stem}-x{scale}.param"
        )
    return ExportReport(output, detail)


def check_output(output: Path, *, overwrite: bool) -> str:
    """The one check of a convert output, before any work; returns the format it names. The
    suffix says what is written (a .pth holding safetensors bytes is refused by every loader,
    as pickle), and the location (for ncnn also that of the .bin beside it) must be usable."""
    written = OUTPUT_FORMATS.get(output.suffix.lower())
    if written is None:
        raise InputError(
            f"-o {output}: expected a .safetensors, .onnx or .param (ncnn) file name (the"
            " suffix says what is written)"
        )
    check_output_file(output, overwrite=overwrite)
    if written == "ncnn":
        check_output_file(output.with_suffix(".bin"), overwrite=overwrite)
    return written


def convert(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    dtype: str | None = None,
    opset: int | None = None,
    into: str | None = None,
    seed: int | None = None,
    check_image: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> ExportReport:
    """`rwsr convert`: `source` (a zoo name, a checkpoint rwsr loads, or an ncnn .param with
    its .bin, `weights`, by default beside it) written as `output`, whose suffix says what:
    .safetensors, .onnx or .param (ncnn). Options that do not apply to the direction are
    refused rather than ignored. `into` (ncnn import): wrap the RRDBNet into this built-in
    RWSR-EDL generator, its head at its initialisation from `seed`."""
    output = Path(output)
    written = check_output(output, overwrite=overwrite)
    from_ncnn = Path(source).suffix.lower() == ".param"
    if from_ncnn and written == "ncnn":
        raise InputError(f"{source} -> {output}: both are ncnn files; nothing to convert")
    if weights is not None and not from_ncnn:
        raise ConfigError(f"a weights file ({weights}) goes with an ncnn .param source only")
    direction = "import" if from_ncnn and written == "safetensors" else written
    given = {
        "--dtype": dtype,
        "--opset": opset,
        "--into": into,
        "--seed": seed,
        "--check-image": check_image,
    }
    for option, value in given.items():
        if value is not None and direction not in _OPTION_DIRECTIONS[option]:
            raise ConfigError(f"{option} does not apply to writing {output.name} from {source}")
    if from_ncnn:
        param = Path(source)
        weights = Path(weights) if weights is not None else param.with_suffix(".bin")
        if direction == "import":
            return _import_ncnn(param, weights, output, dtype, into, seed, overwrite)
    photo = check_photo(check_image)
    if from_ncnn:
        from rwsr.models.ncnn import convert_ncnn

        model, metadata = convert_ncnn(param, weights), {}
    else:
        from rwsr.models.zoo import load_generator

        loaded = load_generator(str(source), progress=progress)
        model, metadata = loaded.model, loaded.metadata
    name = str(source)
    if written == "onnx":
        opset = DEFAULT_OPSET if opset is None else opset
        return export_onnx(model, output, opset=opset, photo=photo, overwrite=overwrite, name=name)
    if written == "ncnn":
        return export_ncnn(
            model, output, dtype=dtype or "float16", photo=photo, overwrite=overwrite, name=name
        )
    kept = {
        k: v
        for k, v in metadata.items()  # the origin of the weights, not the format
        if k not in ("format", "format_version", "config", "source")
    }
    return export_safetensors(
        model,
        output,
        dtype=dtype or "float16",
        photo=photo,
        overwrite=overwrite,
        metadata={"source": name, **kept},
        name=name,
    )


def _import_ncnn(
    param: Path,
    weights: Path,
    output: Path,
    dtype: str | None,
    into: str | None,
    seed: int | None,
    overwrite: bool,
) -> ExportReport:
    """ncnn files to rwsr safetensors (float32 by default), the conversion proved against
    the ncnn graph (rwsr.models.ncnn)."""
    from rwsr.models.catalog import architecture_config, build_model
    from rwsr.models.edl import RWSREDL
    from rwsr.models.ncnn import ncnn_to_safetensors

    dtype = dtype or "float32"
    stored = _store_dtype(dtype)
    target = None
    if into is not None:
        torch.manual_seed(seed or 0)
        target = build_model(architecture_config(into))
        if not isinstance(target, RWSREDL):
            raise ConfigError(f"--into {into}: needs an RWSR-EDL generator architecture")
    model = ncnn_to_safetensors(
        param, weights, output, dtype=stored, into=target, overwrite=overwrite
    )
    parameters = sum(p.numel() for p in model.parameters())
    return ExportReport(output, f"{parameters:,} parameters, {dtype}; agrees with the ncnn graph")
