"""`rwsr noise collect SRC_DIR -o BANK`: noise sampling with a CATI into a noise bank."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rwsr.cli.common import reports_errors
from rwsr.cli.pairs import default_workers
from rwsr.errors import ConfigError

if TYPE_CHECKING:
    from rwsr.data.ngdc.cati import NoiseSamplingConfig

app = typer.Typer(help="Noise sampling (CATI) and noise banks.", no_args_is_help=True)


# The sampling options `noise collect` and `ngdc` share, spelled once.
# The fixed rule (Impressionism, the authors' released noise bank) instead of the CATI:
MaxVariance = Annotated[
    float | None,
    typer.Option(
        min=0.001,
        help="Fixed rule instead of the CATI: windows with luma variance below this "
        "(the authors' released bank: 20).",
    ),
]
MinMean = Annotated[
    float,
    typer.Option(min=0.0, max=255.0, help="With --max-variance: windows with mean above this."),
]
Patch = Annotated[int, typer.Option(min=8, help="Window side s (s x s windows, stride s).")]
Percentile = Annotated[
    float,
    typer.Option(min=0.001, max=100, help="CATI from the bottom % of windows by variance."),
]
MinPatches = Annotated[int, typer.Option(min=1, help="Windows that must stand behind the CATI.")]
RefuseFew = Annotated[
    bool, typer.Option(help="Fail instead of widening when the percentile selects too few.")
]
KeepClipped = Annotated[
    bool, typer.Option(help="Also use windows with samples at 0 or the maximum.")
]


def sampling_config(
    *,
    patch: int,
    percentile: float,
    min_patches: int,
    refuse_few: bool,
    keep_clipped: bool,
    max_variance: float | None,
    min_mean: float,
) -> NoiseSamplingConfig:
    """The noise-sampling settings from the options `noise collect` and `ngdc` share."""
    from rwsr.data.ngdc.cati import NoiseSamplingConfig

    if min_mean and max_variance is None:
        raise ConfigError("--min-mean belongs to the fixed rule: give --max-variance too")
    return NoiseSamplingConfig(
        patch=patch,
        percentile=percentile,
        exclude_clipped=not keep_clipped,
        min_patches=min_patches,
        too_few="refuse" if refuse_few else "widen",
        max_variance=max_variance,
        min_mean=min_mean,
    )


@app.command("collect")
@reports_errors
def collect(
    source: Annotated[Path, typer.Argument(help="Folder of images whose noise to collect.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bank folder to write.")],
    layout: Annotated[
        str | None,
        typer.Option(
            help="Read SOURCE as real pairs in this layout (city100, realsr, paired) and scan"
            " their LR images."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="With --layout: the split to scan.")] = None,
    patch: Patch = 256,
    percentile: Percentile = 2.0,
    min_patches: MinPatches = 8,
    refuse_few: RefuseFew = False,
    keep_clipped: KeepClipped = False,
    max_variance: MaxVariance = None,
    min_mean: MinMean = 0.0,
    export_png: Annotated[
        bool, typer.Option(help="Also write every patch as png/NNNNNN.png.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = default_workers(),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bank.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Collect a noise bank: CATI of the flattest windows, then every window inside it.

    CATI = variance and mean intervals (BT.601 luma, 0-255) of the bottom percentile of
    windows by variance; --max-variance/--min-mean use a fixed rule instead (as the authors'
    released bank). Writes patches.npy (memory-mappable), index.json and report.*.
    """
    from rwsr.data.ngdc.collect import collect_noise
    from rwsr.outputs import check_output_dir

    check_output_dir(output, option="-o")
    config = sampling_config(
        patch=patch,
        percentile=percentile,
        min_patches=min_patches,
        refuse_few=refuse_few,
        keep_clipped=keep_clipped,
        max_variance=max_variance,
        min_mean=min_mean,
    )
    result = collect_noise(
        source,
        output,
        config=config,
        workers=workers,
        overwrite=overwrite,
        export_png=export_png,
        progress=progress,
        layout=layout,
        split=split,
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
