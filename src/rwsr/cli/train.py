"""`rwsr train CONFIG.yaml [key=value ...]`: GAN training of RWSR-EDL (torchrun for DDP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors, resumable


@reports_errors
def train(
    config: Annotated[Path, typer.Argument(help="Training config (see configs/).")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. optim.iterations=2000")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run from its latest checkpoint.")
    ] = False,
    resume_from: Annotated[
        Path | None, typer.Option(help="Continue from this checkpoint file.")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="auto, cpu, cuda, cuda:N or mps; replaces the config's device (and wins over"
            " a device=... override)."
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto, fp32, bf16 or fp16 (fp16 only on GPUs); replaces the config's precision"
            " (and wins over a precision=... override)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Open every input as the run would, time a few steps, print the plan and the"
            " estimated time, and write nothing."
        ),
    ] = False,
) -> None:
    """Train a generator; checkpoints, logs and curves go to output_dir/name."""
    from rwsr.outputs import check_output_dir
    from rwsr.train.config import load_config
    from rwsr.train.plan import dry_run as plan_run
    from rwsr.train.trainer import train as run_training

    # The options go after the key=value overrides, so they win over the same keys there.
    options = [
        f"{key}={value}"
        for key, value in (("device", device), ("precision", precision))
        if value is not None
    ]
    resolved = load_config(config, [*(overrides or []), *options])
    target = resume_from if resume_from is not None else ("latest" if resume else None)
    if dry_run:
        plan = plan_run(resolved, resume=target)
        if plan is not None:
            typer.echo(plan)
        return
    check_output_dir(resolved.output_dir / resolved.name, option="output_dir")
    with resumable(
        resolved.output_dir / resolved.name,
        "rerun with --resume to continue from its last checkpoint",
    ):
        run_dir = run_training(resolved, resume=target, progress=not quiet)
    typer.echo(f"done: {run_dir}", err=True)
