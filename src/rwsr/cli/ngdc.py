"""`rwsr ngdc --target DIR --aux DIR -o OUT`: noise-guided data collection (Algorithm 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors
from rwsr.cli.noise import MaxVariance, MinMean, sampling_config
from rwsr.cli.pairs import default_workers


@reports_errors
def ngdc(
    target: Annotated[Path, typer.Option(help="Target-domain source images (define the CATI).")],
    aux: Annotated[Path, typer.Option(help="Auxiliary images, kept when their noise matches.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    scale: Annotated[int, typer.Option(min=1, max=8, help="LR = HR / scale.")] = 4,
    cleanup: Annotated[int, typer.Option(min=1, max=8, help="Clean-up factor of targets.")] = 2,
    aux_cleanup: Annotated[
        int | None,
        typer.Option(min=1, max=8, help="Clean-up of auxiliary images [default: --cleanup]."),
    ] = None,
    patch: Annotated[int, typer.Option(min=8, help="Window side s.")] = 256,
    percentile: Annotated[float, typer.Option(min=0.001, max=100, help="CATI bottom %.")] = 2.0,
    min_patches: Annotated[int, typer.Option(min=1, help="Windows behind the CATI.")] = 8,
    refuse_few: Annotated[bool, typer.Option(help="Fail instead of widening the CATI.")] = False,
    min_in_cati: Annotated[
        int, typer.Option(min=1, help="In-CATI windows an auxiliary image needs to be kept.")
    ] = 1,
    keep_clipped: Annotated[bool, typer.Option(help="Also use clipped windows.")] = False,
    max_variance: MaxVariance = None,
    min_mean: MinMean = 0.0,
    export_png: Annotated[bool, typer.Option(help="Also write bank patches as PNG.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = default_workers(),
    overwrite: Annotated[
        bool, typer.Option(help="Start over in an existing output folder.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Noise-guided data collection (paper Algorithm 1).

    CATI from the target set, applied to the auxiliary set; writes OUT/HR, OUT/LR (target
    pairs and aux_* pairs of kept auxiliary images), OUT/bank and OUT/report.{json,md,png}.
    Rerun the same command to resume.
    """
    from rwsr.data.ngdc import NgdcConfig, run_ngdc
    from rwsr.data.pairs import PairsConfig

    config = NgdcConfig(
        sampling=sampling_config(
            patch=patch,
            percentile=percentile,
            min_patches=min_patches,
            refuse_few=refuse_few,
            keep_clipped=keep_clipped,
            max_variance=max_variance,
            min_mean=min_mean,
        ),
        pairs=PairsConfig(scale=scale, cleanup=cleanup),
        aux_cleanup=aux_cleanup,
        min_in_cati=min_in_cati,
    )
    try:
        result = run_ngdc(
            target,
            aux,
            output,
            config=config,
            workers=workers,
            overwrite=overwrite,
            export_png=export_png,
            progress=progress,
        )
    except KeyboardInterrupt:
        typer.echo(f"{output}: interrupted; rerun the same command to resume", err=True)
        raise typer.Exit(130) from None
    for record in result.records:
        if record.status == "failed":
            typer.echo(f"error: {record.reason}", err=True)
    for _, message in result.pairs.failed:
        typer.echo(f"error: {message}", err=True)
    counts = {
        role: sum(1 for r in result.records if r.role == role and r.status == "kept")
        for role in ("target", "aux")
    }
    total_aux = sum(1 for r in result.records if r.role == "aux")
    typer.echo(f"CATI: {result.cati.describe()}")
    typer.echo(
        f"{output}: {counts['target']} target and {counts['aux']} of {total_aux} auxiliary images "
        f"kept; {result.pairs.line()}; {result.bank_patches} bank patches"
        + (" (resumed)" if result.resumed else "")
    )
    if not result.ok:
        raise typer.Exit(1)
