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
            help="A built-in architecture name (e.g. rwsr-edl-x4), a zoo model name"
            " (e.g. rwsr-edl-camerasr-x1) or a checkpoint file."
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
    from rwsr.models.zoo import ZOO, weights_path, zoo_entry

    scales = typing.get_args(RRDBNetConfig.model_fields["scale"].annotation)
    if scale is not None and scale not in scales:
        raise ConfigError(f"--scale must be one of {', '.join(map(str, scales))}, but got {scale}")
    rows: dict[str, object]
    looks_like_file = Path(target).exists() or Path(target).suffix != "" or "/" in target
    zoo_names = {entry.name for entry in ZOO}
    if target in zoo_names and target not in BUILTIN_ARCHITECTURES:
        entry = zoo_entry(target)
        loaded = load_model(weights_path(entry), scale=scale)
        model, config = loaded.model, loaded.config
        rows = {
            "zoo model": f"{target} (trained weights)",
            "description": entry.description,
            **describe(config),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "licence": entry.licence,
            "how it was made": entry.origin,
            "sha256": entry.sha256,
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
        rows = {"name": target, **describe(config), "dtype": "float32 (built-in)"}
    else:
        loaded = load_model(target, scale=scale)
        model, config = loaded.model, loaded.config
        rows = {
            "file": target,
            "layout": loaded.layout,
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
