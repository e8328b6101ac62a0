"""`rwsr upscale INPUTS... -o DIR`: upscale photos with the bundled or any other model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import Device, Overwrite, Precision, Quiet, Tile, reports_errors
from rwsr.errors import ConfigError
from rwsr.models.zoo import DEFAULT_MODEL
from rwsr.outputs import check_output_dir


@reports_errors
def upscale(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path(
        "upscaled"
    ),
    model: Annotated[
        str,
        typer.Option(
            help="Zoo name (realesrgan-x4plus, impressionism-df2k-x4,"
            " rwsr-edl-camerasr-unshuffle4-x1, ...; `rwsr info` describes each) or a checkpoint"
            " file (rwsr, ESRGAN family, or any architecture spandrel detects)."
        ),
    ] = DEFAULT_MODEL,
    scale: Annotated[
        int | None, typer.Option(help="Scale of a foreign x3 checkpoint (x2 and x3 share shapes).")
    ] = None,
    outscale: Annotated[
        float | None, typer.Option(help="Final scale; the model output is resized to it.")
    ] = None,
    suffix: Annotated[
        str | None, typer.Option(help="Appended to output names [default: _x<scale>].")
    ] = None,
    ext: Annotated[
        str,
        typer.Option(
            help="Output format: auto (same as the input; GIF becomes PNG), png, jpg, webp, tif, bmp."
        ),
    ] = "auto",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    tile: Tile = None,
    tile_overlap: Annotated[
        int | None,
        typer.Option(
            help="Input pixels blended between neighbouring tiles, which also see the"
            " model's context around them [default: 8, at most tile/4]."
        ),
    ] = None,
    texture: Annotated[
        float | None,
        typer.Option(
            help="RWSR-EDL models only: 1 = the trained output, 0 = the fidelity branch alone,"
            " between = a blend (the texture branch's mask share handed to the fidelity"
            " branch) [default: the trained output]."
        ),
    ] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    max_pixels: Annotated[
        float, typer.Option(help="Refuse inputs larger than this many megapixels.")
    ] = 100.0,
    compile_model: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="torch.compile the model (for batches): a compile once (93 s on 2 AVX2 cores),"
            " then 1.0-1.23x as fast there in fp32 (two idle runs; 0.9-1.1x on AMX in bf16).",
        ),
    ] = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Upscale images: seamless tiles, 8/16-bit, gray/RGB/RGBA, EXIF orientation, ICC and EXIF kept."""
    from rwsr.models.zoo import load_generator
    from rwsr.upscale.batch import OutputNaming, default_suffix, plan_jobs, upscale_jobs
    from rwsr.upscale.engine import Upscaler, check_outscale

    if not (math.isfinite(max_pixels) and max_pixels * 1e6 >= 1):
        raise ConfigError(
            f"--max-pixels must be a positive number of megapixels, but got {max_pixels:g}"
        )
    check_outscale(outscale)
    check_output_dir(output)
    loaded = load_generator(model, scale=scale, progress=not quiet)
    if texture is not None:
        from rwsr.models.edl import set_texture

        set_texture(loaded.model, texture, name=model)
    upscaler = Upscaler(
        loaded.model,
        device=device,
        precision=precision,
        tile=tile,
        tile_overlap=tile_overlap,
        max_pixels=int(max_pixels * 1e6),
        compile_model=compile_model,
        model_name=model,
    )
    factor = outscale if outscale is not None else upscaler.scale
    naming = OutputNaming(
        directory=output, suffix=default_suffix(factor) if suffix is None else suffix, extension=ext
    )
    jobs, notes = plan_jobs(inputs, naming)
    for note in notes:
        typer.echo(f"warning: {note}", err=True)
    if not quiet:
        from rwsr.models.catalog import describe

        precision_name = str(upscaler.dtype).removeprefix("torch.")
        typer.echo(
            f"{model} ({describe(loaded.config)['architecture']}): x{upscaler.scale} on"
            f" {upscaler.device} ({precision_name}), {len(jobs)} image(s)",
            err=True,
        )
        if upscaler.device.type == "cpu":
            from rwsr.models.cost import estimate_line, estimate_run, run_size

            todo = [job.source for job in jobs if overwrite or not job.output.exists()]
            size = run_size(todo, upscaler)
            estimate = (
                estimate_run(model, loaded.config, size.network_megapixels)
                if size.megapixels
                else None
            )
            if estimate is not None:
                line = estimate_line(estimate, size.megapixels, size.network_megapixels)
                typer.echo(line, err=True)
                if estimate.advice:
                    typer.echo(estimate.advice, err=True)
    results = upscale_jobs(
        upscaler, jobs, outscale=outscale, overwrite=overwrite, quality=quality, quiet=quiet
    )
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = [r for r in results if r.status == "failed"]
    typer.echo(
        f"upscaled {done}, skipped {skipped} (exist), failed {len(failed)} -> {output}", err=True
    )
    if failed or not jobs:
        if not jobs:
            typer.echo("error: no images found in the given inputs", err=True)
        raise typer.Exit(1)
