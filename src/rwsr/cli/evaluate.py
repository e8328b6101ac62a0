"""`rwsr evaluate`: the paper's metrics for several methods on one test set, with tables,
figures and an HTML page in one folder; the options of `rwsr.eval.evaluate.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import Device, Overwrite, Precision, Quiet, Tile, reports_errors


@reports_errors
def evaluate(
    sr: Annotated[
        list[str] | None,
        typer.Option(help="Method results as NAME=DIR (or DIR); repeat to compare methods."),
    ] = None,
    hr: Annotated[Path | None, typer.Option(help="Folder of HR (ground-truth) images.")] = None,
    lr: Annotated[
        Path | None, typer.Option(help="Folder of LR images (for --model and the baseline).")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Test set layout: realsr, city100 (CameraSR), ntire2020, aim2019, paired."
        ),
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Root folder of --dataset.")] = None,
    split: Annotated[
        str | None, typer.Option(help="Split of --dataset [default: the layout's test split].")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Zoo name or checkpoint to run on the LR images; repeatable."),
    ] = None,
    scale: Annotated[
        int | None, typer.Option(min=1, help="SR scale [default: the data set's, else 4].")
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(help="auto (bicubic above x1, the LR image at x1), bicubic, identity, none."),
    ] = "auto",
    metrics: Annotated[
        str, typer.Option(help="Any of psnr,ssim,lpips,niqe.")
    ] = "psnr,ssim,lpips,niqe",
    channels: Annotated[str, typer.Option(help="PSNR/SSIM channels: y, rgb or y,rgb.")] = "y,rgb",
    crop_border: Annotated[
        int | None, typer.Option(min=0, help="Pixels cut from every edge [default: the scale].")
    ] = None,
    lpips_net: Annotated[str, typer.Option(help="LPIPS backbone: alex (paper) or vgg.")] = "alex",
    lpips_backbone: Annotated[
        str | None,
        typer.Option(
            help="ImageNet weights file of the LPIPS backbone [default: torchvision's cache or"
            " download]; 'random' gives meaningless values, for tests only."
        ),
    ] = None,
    niqe_luma: Annotated[
        str, typer.Option(help="NIQE on y (BT.601, BasicSR) or gray (rgb2gray).")
    ] = "y",
    device: Device = "auto",
    precision: Precision = "auto",
    tile: Tile = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Evaluate only the first N test images.")
    ] = None,
    figure_images: Annotated[
        int, typer.Option(min=0, help="Test images shown as side-by-side crops.")
    ] = 3,
    title: Annotated[str | None, typer.Option(help="Title of the tables and page.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path(
        "evaluation"
    ),
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Evaluate SR results (folders, models, a baseline): PSNR/SSIM (Y and RGB), LPIPS, NIQE.

    Writes scores.csv, summary.md, summary.json, figures/*.png and report.html to --output.
    Exits with 1 when some image of some method could not be evaluated (each is listed).
    """
    from rwsr.eval.evaluate import evaluate as run_evaluation
    from rwsr.eval.methods import parse_sr_option
    from rwsr.eval.scorer import parse_metrics, split_list

    report = run_evaluation(
        output,
        hr=hr,
        lr=lr,
        dataset=dataset,
        root=root,
        split=split,
        sr=[parse_sr_option(option) for option in sr or []],
        models=model or [],
        scale=scale,
        baseline=baseline,
        metrics=parse_metrics(metrics),
        channels=split_list(channels),
        crop_border=crop_border,
        lpips_net=lpips_net,
        lpips_backbone=lpips_backbone,
        niqe_luma=niqe_luma,
        device=device,
        precision=precision,
        tile=tile,
        limit=limit,
        figure_images=figure_images,
        title=title,
        overwrite=overwrite,
        progress=not quiet,
    )
    typer.echo(report.summary)
    typer.echo(f"wrote {len(report.files)} files; open {report.files[-1]}", err=True)
    if not report.complete:
        problems = len(report.evaluation.problems)
        typer.echo(f"error: {problems} image/method pair(s) not evaluated (listed above)", err=True)
        raise typer.Exit(1)
