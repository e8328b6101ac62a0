"""`rwsr evaluate`: the paper's metrics for several methods on one test set, with tables,
figures and an HTML page in one folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rwsr.cli.common import Device, Overwrite, Precision, Quiet, Tile, reports_errors

if TYPE_CHECKING:
    from rwsr.eval.methods import ModelMethod


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
    from rwsr.device import resolve_device
    from rwsr.errors import ConfigError
    from rwsr.eval.methods import Method, baseline_method, folder_method, parse_sr_option
    from rwsr.eval.report import check_outputs, write_report
    from rwsr.eval.runner import evaluate as run
    from rwsr.eval.samples import Problem, samples_from_dataset, samples_from_folders
    from rwsr.eval.scorer import parse_metrics, settings_from_options, split_list
    from rwsr.outputs import check_output_dir

    # Before any metric: a folder that cannot be written would lose them all at the end.
    check_output_dir(output, option="-o")
    if (dataset is None) == (hr is None):
        raise ConfigError(
            "give either --hr DIR (and optionally --lr DIR) or --dataset NAME --root DIR"
        )
    notes: list[str] = []
    problems: list[Problem] = []
    if dataset is not None:
        if root is None:
            raise ConfigError("--dataset needs --root, the folder that holds the data set")
        if lr is not None:
            raise ConfigError("--lr is taken from --dataset; give one or the other")
        samples, scale, problems, notes = samples_from_dataset(
            dataset, root, split=split, scale=scale
        )
        source = f"{dataset}{f' {split}' if split else ''} at {root}"
    else:
        assert hr is not None
        samples, problems, notes = samples_from_folders(hr, lr)
        scale = scale or 4
        source = str(hr)
    if limit is not None:
        samples = samples[:limit]
        kept = {s.name for s in samples}
        problems = [p for p in problems if p.image in kept]
    torch_device = resolve_device(device)
    settings = settings_from_options(
        scale=scale,
        crop_border=scale if crop_border is None else crop_border,
        metrics=parse_metrics(metrics),
        channels=split_list(channels),
        lpips_net=lpips_net,
        lpips_backbone=lpips_backbone,
        niqe_luma=niqe_luma,
        device=str(torch_device),
    )
    methods: list[Method] = []
    base = baseline_method(baseline, scale)
    if dataset is None and lr is None:  # no LR images: no baseline unless one was demanded
        if baseline in ("bicubic", "identity"):
            raise ConfigError(f"--baseline {baseline} needs the LR images: give --lr DIR")
        base = None
    if base is not None:
        methods.append(base)
    for option in sr or []:
        name, folder = parse_sr_option(option)
        method = folder_method(name, folder, samples)
        notes += [f"{name}: {note}" for note in method.notes]
        methods.append(method)
    methods += [
        _model_method(m, scale, str(torch_device), precision, tile, quiet) for m in model or []
    ]
    names = [m.name for m in methods]
    if not methods:
        raise ConfigError("nothing to evaluate: give --sr NAME=DIR, --model NAME or a --baseline")
    if len(set(names)) != len(names):
        raise ConfigError(f"method names must differ, but got {', '.join(names)}")
    shown = [s.name for s in samples[:figure_images]]
    check_outputs(output, shown, overwrite=overwrite)
    if not quiet:
        typer.echo(
            f"{len(samples)} test image(s) from {source}; methods: {', '.join(names)};"
            f" metrics on {settings.device}",
            err=True,
        )
    result = run(
        samples,
        methods,
        settings,
        baseline=base.name if base is not None else None,
        figure_images=figure_images,
        progress=not quiet,
    )
    result.problems[:0] = problems
    result.notes[:0] = notes
    written = write_report(
        result, output, title=title or f"Evaluation on {source}", overwrite=overwrite
    )
    typer.echo((output / "summary.md").read_text(encoding="utf-8"))
    typer.echo(f"wrote {len(written)} files; open {written[-1]}", err=True)
    if not result.complete:
        typer.echo(
            f"error: {len(result.problems)} image/method pair(s) not evaluated (listed above)",
            err=True,
        )
        raise typer.Exit(1)


def _model_method(
    name: str, scale: int, device: str, precision: str, tile: int | None, quiet: bool
) -> ModelMethod:
    from rwsr.errors import ConfigError
    from rwsr.models.zoo import ZOO, load_generator
    from rwsr.upscale.engine import Upscaler

    loaded = load_generator(name, progress=not quiet)
    upscaler = Upscaler(loaded.model, device=device, precision=precision, tile=tile)
    if upscaler.scale != scale:
        raise ConfigError(
            f"--model {name} upscales x{upscaler.scale}, but the test set is x{scale}"
        )
    from rwsr.eval.methods import ModelMethod
    from rwsr.models.catalog import describe

    label = name if name in {entry.name for entry in ZOO} else Path(name).stem
    if not quiet:
        typer.echo(f"--model {name}: {describe(loaded.config)['architecture']}", err=True)
    return ModelMethod(name=label, upscaler=upscaler)
