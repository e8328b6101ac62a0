"""`rwsr ngdc --target DIR --aux DIR -o OUT`: noise-guided data collection (Algorithm 1), the
options of `rwsr.data.ngdc.auxiliary.run_ngdc`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors, resumable
from rwsr.cli.noise import (
    KeepClipped,
    MaxVariance,
    MinMean,
    MinPatches,
    Patch,
    Percentile,
    RefuseFew,
    sampling_config,
)
from rwsr.cli.pairs import default_workers


@reports_errors
def ngdc(
    target: Annotated[
        Path,
        typer.Option(
            help="Target domain: source images (they define the CATI and become pairs), or "
            "with --target-layout a data set of real LR/HR pairs (CATI from its LR images; the "
            "pairs are used in place)."
        ),
    ],
    aux: Annotated[Path, typer.Option(help="Auxiliary images, kept when their noise matches.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    target_layout: Annotated[
        str | None,
        typer.Option(
            help="The target is a real-pair data set in this layout of rwsr.data.datasets "
            "(city100, realsr, paired, ...); none = a folder of source images."
        ),
    ] = None,
    target_split: Annotated[
        str | None,
        typer.Option(help="Split of the real-pair target [default: the layout's, e.g. train]."),
    ] = None,
    scale: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=8,
            help="LR = HR / scale [default: 4; with --target-layout the target pairs' scale].",
        ),
    ] = None,
    cleanup: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=8,
            help="Clean-up factor of source targets [default: 2; not with real pairs].",
        ),
    ] = None,
    aux_cleanup: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=8,
            help="Clean-up of auxiliary images [default: --cleanup, 2 with --target-layout: "
            "the paper's auxiliary set is NTIRE 2020's noisy source images].",
        ),
    ] = None,
    x1_blur: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="At scale 1: LR = bicubic up(down(HR, 1/b)), the detail a xb camera loses; "
            "1 = LR equals HR.",
        ),
    ] = 2,
    patch: Patch = 256,
    percentile: Percentile = 2.0,
    min_patches: MinPatches = 8,
    refuse_few: RefuseFew = False,
    min_in_cati: Annotated[
        int, typer.Option(min=1, help="In-CATI windows an auxiliary image needs to be kept.")
    ] = 1,
    keep_clipped: KeepClipped = False,
    max_variance: MaxVariance = None,
    min_mean: MinMean = 0.0,
    export_png: Annotated[bool, typer.Option(help="Also write bank patches as PNG.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = default_workers(),
    overwrite: Annotated[
        bool,
        typer.Option(help="Start over in an existing output folder (its earlier files go)."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Noise-guided data collection (paper Algorithm 1).

    Source target: CATI from the target images, applied to the auxiliary set; writes OUT/HR,
    OUT/LR (target pairs and aux_* pairs of kept auxiliary images). Real-pair target
    (--target-layout): CATI from the target's LR images; its pairs are used in place, so
    OUT/HR and OUT/LR hold only the aux_* pairs. Both write OUT/bank and
    OUT/report.{json,md,png}. Rerun the same command to resume.
    """
    from rwsr.data.ngdc.auxiliary import NgdcConfig, run_ngdc
    from rwsr.data.pairs import PairsConfig

    # Only the options given are set, so that a real-pair target can tell them from defaults.
    pairs_options: dict[str, int] = {"x1_blur": x1_blur}
    if scale is not None:
        pairs_options["scale"] = scale
    if cleanup is not None:
        pairs_options["cleanup"] = cleanup
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
        pairs=PairsConfig(**pairs_options),
        aux_cleanup=aux_cleanup,
        min_in_cati=min_in_cati,
    )
    with resumable(output, "rerun the same command to resume"):
        result = run_ngdc(
            target,
            aux,
            output,
            config=config,
            target_layout=target_layout,
            target_split=target_split,
            workers=workers,
            overwrite=overwrite,
            export_png=export_png,
            progress=progress,
        )
    for message in result.errors:
        typer.echo(f"error: {message}", err=True)
    typer.echo(f"CATI: {result.cati.describe()}")
    typer.echo(f"{output}: {result.line()}")
    if not result.ok:
        raise typer.Exit(1)
