"""`rwsr bench`: parameters and frames per second of models (the paper's Table VI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rwsr.cli.common import Overwrite, reports_errors

if TYPE_CHECKING:
    from torch import nn


@reports_errors
def bench(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Zoo names, built-in architectures (random weights) or checkpoint files"
            " [default: the bundled models]."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="Comma-separated devices, or all available (auto).")
    ] = "auto",
    precision: Annotated[
        str, typer.Option(help="Comma-separated fp32/bf16/fp16, or each device's native (auto).")
    ] = "auto",
    size: Annotated[str, typer.Option(help="Input WIDTHxHEIGHT (paper: 300x200).")] = "300x200",
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs (median).")] = 3,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs first.")] = 1,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder for bench.json and bench.md.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Measure parameters and frames/s of each model on each device and precision."""
    import json

    from rwsr.atomic import write_text_atomic
    from rwsr.errors import InputError
    from rwsr.eval.bench import (
        bench_json,
        bench_markdown,
        bench_model,
        environment,
        parse_size,
        targets,
    )
    from rwsr.eval.scorer import split_list
    from rwsr.models.catalog import describe
    from rwsr.models.zoo import ZOO
    from rwsr.outputs import check_output_dir

    width, height = parse_size(size)
    if output is not None:
        check_output_dir(output, option="-o")
        if not overwrite:
            existing = [n for n in ("bench.json", "bench.md") if (output / n).exists()]
            if existing:
                raise InputError(f"{output}: already holds {', '.join(existing)}; pass --overwrite")
    chosen = targets(
        None if device == "auto" else split_list(device),
        None if precision == "auto" else split_list(precision),
    )
    names = models or [entry.name for entry in ZOO if entry.bundled]
    env = environment()
    results = []
    for name in names:
        for target in chosen:
            model = _load(name)  # fresh per target: the upscaler takes the module over
            architecture = describe(model.config)["architecture"]
            typer.echo(
                f"{name} ({architecture}) on {target.device} ({target.precision})...", err=True
            )
            label = Path(name).stem if Path(name).is_file() else name
            results.append(
                bench_model(
                    label, model, target, size=(width, height), repeats=repeats, warmup=warmup
                )
            )
    markdown = bench_markdown(results, env)
    typer.echo(markdown)
    if output is not None:
        write_text_atomic(output / "bench.md", markdown, overwrite=overwrite)
        document = json.dumps(bench_json(results, env), indent=2) + "\n"
        write_text_atomic(output / "bench.json", document, overwrite=overwrite)
        typer.echo(f"wrote {output / 'bench.md'} and {output / 'bench.json'}", err=True)


def _load(name: str) -> nn.Module:
    """A zoo model, a built-in architecture (random weights: size and speed only) or a file."""
    from rwsr.models.catalog import BUILTIN_ARCHITECTURES, build_model
    from rwsr.models.zoo import load_generator

    if name in BUILTIN_ARCHITECTURES:  # zoo names never spell an architecture
        return build_model(BUILTIN_ARCHITECTURES[name])
    return load_generator(name, progress=False).model
