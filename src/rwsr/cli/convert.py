"""`rwsr convert ncnn PARAM BIN -o OUT.safetensors`: import foreign model formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors

app = typer.Typer(
    help="Convert models from other formats to rwsr safetensors.", no_args_is_help=True
)


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
        int, typer.Option(help="Seed for the new head's random weights (reproducible files).")
    ] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Convert an ncnn RRDBNet (fp16 or fp32 weights) to an rwsr checkpoint, verified against
    the ncnn graph."""
    import torch

    from rwsr.errors import ConfigError
    from rwsr.models.catalog import architecture_config, build_model
    from rwsr.models.checkpoint import load_weights_into, save_model
    from rwsr.models.edl import RWSREDL
    from rwsr.models.ncnn import convert_ncnn

    dtypes: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}
    if dtype not in dtypes:
        raise ConfigError(f"--dtype must be one of {', '.join(dtypes)}, but got '{dtype}'")
    model = convert_ncnn(param, bin_file)
    if into is not None:
        torch.manual_seed(seed)
        target = build_model(architecture_config(into))
        if not isinstance(target, RWSREDL) or target.config.rrdb != model.config:
            raise ConfigError(
                f"--into {into}: needs an RWSR-EDL generator with trunk {model.config}"
            )
        report = load_weights_into(target, model.state_dict(), strict=False, path=param)
        typer.echo(
            f"trunk loaded into {into}: {report.summary(limit=3)} (head keeps its initialisation)"
        )
        model = target
    source = f"ncnn {param.name} + {bin_file.name}"
    save_model(model, output, dtype=dtypes[dtype], overwrite=overwrite, metadata={"source": source})
    parameters = sum(p.numel() for p in model.parameters())
    typer.echo(f"wrote {output} ({parameters:,} parameters, {dtype})")
