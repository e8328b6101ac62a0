"""Export of any model rwsr loads, each output proved on a real photo before it is kept.

- rwsr safetensors (float32 or float16): the written file is loaded again and must give the
  same pixels as the source model with its weights rounded to the stored dtype.
- ONNX (torch.onnx's dynamo exporter, opset 18 by default) with dynamic height and width:
  onnxruntime on the CPU must agree with PyTorch to CHECK_PSNR_DB at two different sizes,
  so that a size baked into the graph is caught. Windowed transformers (SwinIR, HAT) pad to
  their window inside Python, which the exporter fixes at the traced size; for them the
  graph takes sizes that are multiples of a block (the smallest of 8, 16, 32, 64 for which
  both sizes agree), recorded in the file's metadata as `rwsr.size_multiple`.

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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from rwsr.atomic import atomic_path
from rwsr.errors import ConfigError, InputError, RwsrError
from rwsr.metrics.psnr_ssim import psnr
from rwsr.models.catalog import describe, generator_scale
from rwsr.models.checkpoint import (
    check_finite_weights,
    load_model,
    non_finite_tensors,
    save_model,
)
from rwsr.models.foreign import SpandrelGenerator

CHECK_PSNR_DB = 50.0
DEFAULT_OPSET = 18
SIZE_MULTIPLES = (1, 8, 16, 32, 64)
# (height, width) of the two check crops: no common factor with the windows of 8 to 64, so a
# graph that only works at multiples of a window fails one of them; rounded to the multiple.
CHECK_SIZES = ((45, 61), (38, 70))
STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


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
    """PSNR (rwsr.metrics, RGB, no crop) of two 1x3xHxW outputs, both clipped to [0, 1]; inf
    when identical, -inf when either holds NaN/Inf (NaN equal to NaN is no agreement)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return -math.inf
    return float(psnr(*(np.clip(out[0].transpose(1, 2, 0), 0, 1) for out in (a, b))))


def _run(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model(x).float().numpy()


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
    if dtype not in STORE_DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(STORE_DTYPES)}, but got '{dtype}'")
    check_finite_weights(model, name)
    source = copy.deepcopy(model).float().eval()  # the caller's model keeps its dtype and mode
    rounded = copy.deepcopy(source).to(STORE_DTYPES[dtype]).float()
    overflowing = non_finite_tensors(rounded)  # float16 ends at 65504
    if overflowing:
        raise ConfigError(
            f"{name}: weights beyond the range of {dtype} in {', '.join(overflowing[:4])};"
            " use --dtype float32"
        )
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
    with atomic_path(output, overwrite=overwrite) as tmp:
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
