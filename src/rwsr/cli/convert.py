"""`rwsr convert SOURCE -o OUTPUT`: the direction follows from the file names (an ncnn .param
source is imported; -o .safetensors, .onnx or .param says what is written), each output
checked on a real photo before the command succeeds. A thin shell over
rwsr.models.export.convert.

The earlier spellings `rwsr convert ncnn|onnx|safetensors ...` still work, with a note."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import Overwrite, reports_errors
from rwsr.errors import ConfigError, InputError

# The earlier subcommands and the suffix of what each wrote.
LEGACY_VERBS = {"ncnn": ".safetensors", "onnx": ".onnx", "safetensors": ".safetensors"}


@reports_errors
def convert(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="Zoo name, checkpoint file (rwsr, ESRGAN family, spandrel) or ncnn .param,"
            " then its .bin if not the one beside it.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="Output: .safetensors (rwsr), .onnx, or .param (ncnn + .bin)."
        ),
    ],
    dtype: Annotated[
        str | None,
        typer.Option(
            help="Stored precision, float32 or float16 (default float16; float32 for an ncnn"
            " import).",
            show_default=False,
        ),
    ] = None,
    opset: Annotated[
        int | None, typer.Option(min=17, max=23, help="ONNX opset version (default 18).")
    ] = None,
    into: Annotated[
        str | None,
        typer.Option(
            help="ncnn import: wrap the RRDBNet into this built-in generator, e.g. rwsr-edl-x4"
            " (head at identity init)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=2**32 - 1,
            help="ncnn import: seed for the new head's random weights (default 0).",
        ),
    ] = None,
    check_image: Annotated[
        Path | None,
        typer.Option(help="Photo the output is checked on (default: the bundled sample photo)."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Convert a model; the direction follows from the file names: an ncnn .param imports,
    -o .safetensors / .onnx / .param exports. Every output is proved on a real photo (ncnn
    and ONNX files by their own runtimes) or nothing is written."""
    from rwsr.models import export

    sources = list(sources)
    verb = sources.pop(0) if len(sources) > 1 and sources[0] in LEGACY_VERBS else None
    if verb is not None:
        now = "PARAM [BIN]" if verb == "ncnn" else "MODEL"
        typer.echo(
            f"note: `rwsr convert {verb} ...` is now `rwsr convert {now} -o OUTPUT`: the"
            " direction follows from the file names",
            err=True,
        )
        if output.suffix.lower() != LEGACY_VERBS[verb]:
            raise InputError(
                f"-o {output}: expected a {LEGACY_VERBS[verb]} file name (that is what"
                f" `rwsr convert {verb}` writes)"
            )
    if len(sources) > 2 or (verb not in (None, "ncnn") and len(sources) > 1):
        raise ConfigError(f"expected SOURCE [BIN], but got {' '.join(sources)}")
    report = export.convert(
        sources[0],
        output,
        weights=sources[1] if len(sources) == 2 else None,
        dtype=dtype,
        opset=opset,
        into=into,
        seed=seed,
        check_image=check_image,
        overwrite=overwrite,
        progress=True,
    )
    typer.echo(f"wrote {report.path}: {report.detail}")
