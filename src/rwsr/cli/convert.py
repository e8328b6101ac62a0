"""`rwsr convert`: ncnn files into rwsr safetensors, and any model rwsr loads into rwsr
safetensors or ONNX, each output checked on a real photo before the command succeeds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rwsr.cli.common import Overwrite, reports_errors
from rwsr.errors import InputError

if TYPE_CHECKING:  # numpy and torch load inside the commands, not when the CLI starts
    import numpy as np

    from rwsr.models.checkpoint import LoadedModel

app = typer.Typer(
    help="Convert models: ncnn to rwsr safetensors; any model rwsr loads to safetensors or ONNX.",
    no_args_is_help=True,
)
ModelArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL", help="Zoo name or checkpoint file (rwsr, ESRGAN family, or spandrel)."
    ),
]
CheckImage = Annotated[
    Path | None,
    typer.Option(help="Photo the output is checked on (default: the bundled sample photo)."),
]


@app.command("ncnn")
@reports_errors
def ncnn(
    param: Annotated[Path, typer.Argument(help="ncnn .param file (text).")],
    bin_file: Annotated[Path, typer.Argument(metavar="BIN", help="ncnn .bin weights file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .safetensors file.")],
    into: Annotated[
        str | None,
        typer.Option(
            help="Wrap the RRDBNet into this built-in generator, e.g. rwsr-edl-x4 (head at identity init)."
        ),
    ] = None,
    dtype: Annotated[str, typer.Option(help="Stored precision: float32 or float16.")] = "float32",
    seed: Annotated[
        int,
        typer.Option(
            min=0,
            max=2**32 - 1,
            help="Seed for the new head's random weights (reproducible files).",
        ),
    ] = 0,
    overwrite: Overwrite = False,
) -> None:
    """Convert an ncnn RRDBNet (fp16 or fp32 weights) to an rwsr checkpoint, verified against
    the ncnn graph."""
    import torch

    from rwsr.errors import ConfigError
    from rwsr.models.catalog import architecture_config, build_model
    from rwsr.models.edl import RWSREDL
    from rwsr.models.ncnn import ncnn_to_safetensors

    dtypes: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}
    if dtype not in dtypes:
        raise ConfigError(f"--dtype must be one of {', '.join(dtypes)}, but got '{dtype}'")
    check_output(output, ".safetensors", overwrite=overwrite)
    target = None
    if into is not None:
        torch.manual_seed(seed)
        target = build_model(architecture_config(into))
        if not isinstance(target, RWSREDL):
            raise ConfigError(f"--into {into}: needs an RWSR-EDL generator architecture")
    model = ncnn_to_safetensors(
        param, bin_file, output, dtype=dtypes[dtype], into=target, overwrite=overwrite
    )
    parameters = sum(p.numel() for p in model.parameters())
    typer.echo(f"wrote {output} ({parameters:,} parameters, {dtype})")


@app.command("safetensors")
@reports_errors
def safetensors(
    model: ModelArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .safetensors file.")],
    dtype: Annotated[str, typer.Option(help="Stored precision: float32 or float16.")] = "float16",
    check_image: CheckImage = None,
    overwrite: Overwrite = False,
) -> None:
    """Write a model as rwsr safetensors (its config in the metadata); the reloaded file must
    give the same pixels as the model with its weights in --dtype."""
    from rwsr.models.export import export_safetensors

    loaded, photo = _export_inputs(model, output, ".safetensors", check_image, overwrite)
    report = export_safetensors(
        loaded.model,
        output,
        dtype=dtype,
        photo=photo,
        overwrite=overwrite,
        metadata={"source": model, **_kept_metadata(loaded.metadata)},
        name=model,
    )
    typer.echo(f"wrote {report.path}: {report.detail}")


@app.command("onnx")
@reports_errors
def onnx(
    model: ModelArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .onnx file.")],
    opset: Annotated[int, typer.Option(min=17, max=23, help="ONNX opset version.")] = 18,
    check_image: CheckImage = None,
    overwrite: Overwrite = False,
) -> None:
    """Export a model to ONNX (float32, dynamic height and width); onnxruntime on the CPU
    must agree with PyTorch to 50 dB on a real photo at two sizes."""
    from rwsr.models.export import export_onnx

    loaded, photo = _export_inputs(model, output, ".onnx", check_image, overwrite)
    report = export_onnx(
        loaded.model, output, opset=opset, photo=photo, overwrite=overwrite, name=model
    )
    typer.echo(f"wrote {report.path}: {report.detail}")


def check_output(output: Path, suffix: str, *, overwrite: bool) -> None:
    """Every convert command's -o, before any work: the name must say what is written (a
    .pth holding safetensors bytes is refused by every loader, as pickle), and the location
    must be usable."""
    from rwsr.outputs import check_output_file

    if output.suffix.lower() != suffix:
        raise InputError(f"-o {output}: expected a {suffix} file name (that is what is written)")
    check_output_file(output, overwrite=overwrite)


def _export_inputs(
    model: str, output: Path, suffix: str, check_image: Path | None, overwrite: bool
) -> tuple[LoadedModel, np.ndarray]:
    """The output checked (suffix, location) before the model and the check photo load."""
    from rwsr.models.export import check_photo
    from rwsr.models.zoo import load_generator

    check_output(output, suffix, overwrite=overwrite)
    photo = check_photo(check_image)
    return load_generator(model, progress=True), photo


def _kept_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata a converted file carries over (the origin of the weights, not the format)."""
    return {
        k: v
        for k, v in metadata.items()
        if k not in ("format", "format_version", "config", "source")
    }
