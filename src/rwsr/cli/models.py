"""`rwsr models list` and `rwsr models install NAME FILE...`: the zoo, and making a zoo model
offline from its published files downloaded elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rwsr.cli.common import reports_errors

app = typer.Typer(
    help="The zoo of trained models: list them, install one offline.", no_args_is_help=True
)


@app.command("list")
@reports_errors
def list_models() -> None:
    """Each zoo model's name, scale, file size, where its file is, CPU speed and licence."""
    from rwsr.models.zoo import DEFAULT_MODEL, REFERENCE_SPEED, listing, speed_basis

    rows = listing()
    widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
    last = list(widths)[-1]
    for row in [{key: key for key in widths}, *rows]:
        typer.echo(
            "  ".join(row[key] if key == last else f"{row[key]:<{widths[key]}}" for key in widths)
        )
    typer.echo(
        f"\nCPU speed: seconds per input megapixel; {DEFAULT_MODEL}"
        f" {speed_basis(REFERENCE_SPEED)} ({REFERENCE_SPEED.how}); ~ = scaled from it by"
        " FLOPs, not measured."
    )


@app.command("install")
@reports_errors
def install(
    name: Annotated[str, typer.Argument(help="Zoo name, e.g. realesr-general-x4v3.")],
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Its published files, downloaded elsewhere (their URLs: README, or the error"
            " of a run without network)."
        ),
    ],
) -> None:
    """Make a zoo model in the cache from its published files (no network): each file's
    SHA-256 must be the pinned one, and the result is the file a download makes."""
    from rwsr.models.zoo import install as install_files

    path = install_files(name, files)
    typer.echo(f"installed {name}: {path} (SHA-256 checked)")
