"""`rwsr noise collect SRC_DIR -o BANK`: noise sampling with a CATI into a noise bank."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rwsr.cli.common import reports_errors
from rwsr.cli.pairs import default_workers

if TYPE_CHECKING:
    from rwsr.data.cati import NoiseSamplingConfig

app = typer.Typer(help="Noise sampling (CATI) and noise banks.", no_args_is_help=True)


def sampling_config(
    *, patch: int, percentile: float, min_patches: int, refuse_few: bool, keep_clipped: bool
) -> NoiseSamplingConfig:
    """The noise-sampling settings from the options `noise collect` and `ngdc` share."""
    from rwsr.data.cati import NoiseSamplingConfig

    return NoiseSamplingConfig(
        patch=patch,
        percentile=percentile,
        exclude_clipped=not keep_clipped,
        min_patches=min_patches,
        too_few="refuse" if refuse_few else "widen",
    )


@app.command("collect")
@reports_errors
def collect(
    source: Annotated[Path, typer.Argument(help="Folder of images whose noise to collect.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bank folder to write.")],
    patch: Annotated[
        int, typer.Option(min=8, help="Window side s (s x s windows, stride s).")
    ] = 256,
    percentile: Annotated[
        float,
        typer.Option(min=0.001, max=100, help="CATI from the bottom % of windows by variance."),
    ] = 2.0,
    min_patches: Annotated[
        int, typer.Option(min=1, help="Windows that must stand behind the CATI.")
    ] = 8,
    refuse_few: Annotated[
        bool, typer.Option(help="Fail instead of widening when the percentile selects too few.")
    ] = False,
    keep_clipped: Annotated[
        bool, typer.Option(help="Also use windows with samples at 0 or the maximum.")
    ] = False,
    export_png: Annotated[
        bool, typer.Option(help="Also write every patch as png/NNNNNN.png.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = default_workers(),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bank.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Collect a noise bank: CATI of the flattest windows, then every window inside it.

    CATI = variance and mean intervals (BT.601 luma, 0-255) of the bottom percentile of
    windows by variance. Writes patches.npy (memory-mappable), index.json and report.*.
    """
    from rwsr.data.noise_collect import collect_noise

    config = sampling_config(
        patch=patch,
        percentile=percentile,
        min_patches=min_patches,
        refuse_few=refuse_few,
        keep_clipped=keep_clipped,
    )
    result = collect_noise(
        source,
        output,
        config=config,
        workers=workers,
        overwrite=overwrite,
        export_png=export_png,
        progress=progress,
    )
    failed = [r for r in result.records if r.status == "failed"]
    for record in failed:
        typer.echo(f"error: {record.reason}", err=True)
    kept = sum(1 for r in result.records if r.status == "kept")
    typer.echo(f"CATI: {result.cati.describe()}")
    typer.echo(
        f"{output}: {result.patches} patches from {kept} of {len(result.records)} images "
        f"({len(failed)} failed); report in {output / 'report.md'}"
    )
    if failed:
        raise typer.Exit(1)
