"""`rwsr pairs SRC_DIR -o OUT_DIR`: LR/HR training pairs from source images (Eq. 9-10)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors, resumable


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@reports_errors
def pairs(
    source: Annotated[Path, typer.Argument(help="Folder of source images.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output folder (gets HR/ and LR/).")
    ],
    scale: Annotated[int, typer.Option(min=1, max=8, help="LR = HR / scale.")] = 4,
    cleanup: Annotated[
        int, typer.Option(min=1, max=8, help="HR = source / cleanup; 1 for already clean targets.")
    ] = 2,
    x1_blur: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="At --scale 1: LR = bicubic up(down(HR, 1/b)), the detail a xb camera loses; "
            "1 = LR equals HR.",
        ),
    ] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = default_workers(),
    overwrite: Annotated[
        bool,
        typer.Option(help="Start over: replace the settings and the pairs an earlier run wrote."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Make LR/HR training pairs from source images (paper Eq. 9-10).

    HR = bicubic(source, 1/cleanup) cropped to a multiple of scale, LR = bicubic(HR, 1/scale)
    (at scale 1: bicubic up(down(HR, 1/x1-blur)), same size), MATLAB bicubic, PNG with the
    source's bit depth. Rerun the same command to resume: finished pairs are skipped;
    --overwrite starts over and removes the pairs the earlier run wrote (no other file).
    """
    from rwsr.data.folders import list_images
    from rwsr.data.manifest import claim_output
    from rwsr.data.pairs import PairsConfig, generate_pairs, jobs_for, pair_files
    from rwsr.outputs import check_output_dir

    check_output_dir(output, option="-o")
    config = PairsConfig(scale=scale, cleanup=cleanup, x1_blur=x1_blur)
    sources = list_images(source, what="source folder")
    jobs = jobs_for(sources)
    settings = {"source": str(source.resolve()), **config.model_dump()}
    claim_output(
        output,
        command="pairs",
        settings=settings,
        overwrite=overwrite,
        owned=pair_files(jobs),
        inputs=[source, *sources],
    )
    with resumable(output, "rerun the same command to resume"):
        summary = generate_pairs(
            jobs, output, config=config, workers=workers, overwrite=overwrite, progress=progress
        )
    for path, message in summary.failed:
        typer.echo(f"error: {message}", err=True)
    typer.echo(f"{output}: {summary.line()}")
    if not summary.ok:
        raise typer.Exit(1)
