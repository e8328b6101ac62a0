"""`rwsr info ARCH_OR_FILE`: what a built-in architecture or a checkpoint file holds."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors
from rwsr.errors import ConfigError


@reports_errors
def info(
    target: Annotated[
        str,
        typer.Argument(
            help="A zoo model (trained weights, e.g. realesrgan-x4plus), a built-in architecture"
            " (random weights, e.g. rwsr-edl-x4) or a checkpoint file."
        ),
    ],
    scale: Annotated[
        int | None, typer.Option(help="Scale of a foreign x3 checkpoint (x2 and x3 share shapes).")
    ] = None,
) -> None:
    """Print architecture, variant, scale, sizes, parameter count and dtype (and, for a zoo
    model, its licence, origin and hash)."""
    from rwsr.models.catalog import (
        BUILTIN_ARCHITECTURES,
        architecture_config,
        build_model,
        describe,
    )
    from rwsr.models.checkpoint import load_model
    from rwsr.models.rrdbnet import RRDBNetConfig
    from rwsr.models.zoo import (
        DEFAULT_MODEL,
        ZOO,
        cpu_seconds_per_megapixel,
        speed_basis,
        weights_path,
        zoo_entry,
    )

    scales = typing.get_args(RRDBNetConfig.model_fields["scale"].annotation)
    if scale is not None and scale not in scales:
        raise ConfigError(f"--scale must be one of {', '.join(map(str, scales))}, but got {scale}")
    rows: dict[str, object]
    looks_like_file = Path(target).exists() or Path(target).suffix != "" or "/" in target
    zoo_names = {entry.name for entry in ZOO}
    if target in zoo_names:
        entry = zoo_entry(target)
        path = weights_path(entry)
        loaded = load_model(path, scale=scale)
        model, config = loaded.model, loaded.config
        rows = {
            "zoo model": f"{target} (trained weights"
            + (", the default)" if target == DEFAULT_MODEL else ")"),
            "description": entry.description,
            "network": entry.architecture,
            **describe(config),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "source": entry.source,
            "licence": entry.licence,
            "licence texts": ", ".join(f"rwsr/{name}" for name in entry.licence_files),
            "how it was made": entry.made,
            "file": f"{path} ({'bundled' if entry.bundled else 'cached'})",
            "sha256": f"{entry.sha256} (checked)",
            "CPU cost": f"{entry.flops_per_pixel / 1e6:.2f} MFLOP per input pixel,"
            f" {cpu_seconds_per_megapixel(entry.flops_per_pixel, entry.cpu_speed):.0f} s/MP"
            + f" ({speed_basis(entry.cpu_speed)}"
            + (f": {entry.cpu_speed.how})" if entry.cpu_speed else ")"),
        }
        rows.update(
            {f"meta.{k}": v for k, v in loaded.metadata.items() if k not in ("config", "format")}
        )
    elif target in BUILTIN_ARCHITECTURES or not looks_like_file:
        config = architecture_config(target)
        named_scale = describe(config).get("scale")
        if scale is not None and scale != named_scale:
            raise ConfigError(
                f"--scale {scale} contradicts {target}"
                + (f", a x{named_scale} architecture" if named_scale else ", a discriminator")
            )
        model = build_model(config)
        rows = {
            "architecture name": f"{target} (random weights: for training, `rwsr bench` and"
            " sizes; not a trained model)",
            **describe(config),
            "dtype": "float32 (built-in)",
        }
    else:
        loaded = load_model(target, scale=scale)
        model, config = loaded.model, loaded.config
        rows = {
            "file": target,
            "key format": loaded.key_format,
            **describe(config),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "tensors": loaded.report.summary(),
        }
        rows.update(
            {f"meta.{k}": v for k, v in loaded.metadata.items() if k not in ("config", "format")}
        )
    rows["parameters"] = f"{sum(p.numel() for p in model.parameters()):,}"
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        typer.echo(f"{key + ':':<{width + 1}} {value}")
