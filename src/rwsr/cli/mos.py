"""`rwsr mos serve` and `rwsr mos report`: run the paper's MOS test and summarise it.

A thin shell over `rwsr.mos`: options become a StudyConfig, the rest is the public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rwsr.cli.common import reports_errors
from rwsr.errors import ConfigError
from rwsr.mos.config import StudyConfig
from rwsr.outputs import check_output_dir, check_output_file

app = typer.Typer(
    help="Mean opinion score studies: raters compare method patches with the reference.",
    no_args_is_help=True,
)

_STUDY_OPTIONS = ("patches", "patch_size", "patches_per_rater", "allow_revisions", "seed")


def _option_name(field: str) -> str:
    return "--method" if field == "methods" else "--" + field.replace("_", "-")


def folder_and_pattern(text: str | Path) -> tuple[Path, str]:
    """'DIR' (every image in it) or 'DIR/PATTERN' with a glob in the last part."""
    path = Path(text).expanduser()
    if any(char in path.name for char in "*?["):
        return path.parent.resolve(), path.name
    return path.resolve(), "*"


def study_config(
    reference: Path | None, methods: list[str], options: Mapping[str, object]
) -> StudyConfig:
    """StudyConfig from command-line values; every problem becomes a ConfigError."""
    if reference is None or not methods:
        raise ConfigError("a new study needs --ref DIR and at least one --method NAME=DIR")
    sources = []
    for spec in methods:
        name, sep, directory = spec.partition("=")
        if not sep or not name.strip() or not directory.strip():
            raise ConfigError(
                f"--method {spec!r}: expected NAME=DIR, e.g. --method RWSR-EDL=results/edl"
            )
        folder, pattern = folder_and_pattern(directory.strip())
        sources.append({"name": name.strip(), "directory": folder, "pattern": pattern})
    folder, pattern = folder_and_pattern(reference)
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return StudyConfig.model_validate(
            {"reference": folder, "reference_pattern": pattern, "methods": sources, **given}
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{_option_name(str(e['loc'][0])) if e['loc'] else 'options'}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"invalid study: {problems}") from None


@app.command("serve")
@reports_errors
def serve(
    db: Annotated[
        Path, typer.Option("--db", help="Study database; built from --ref/--method if absent.")
    ],
    ref: Annotated[
        Path | None,
        typer.Option("--ref", help="Reference (HR) images: DIR, or DIR/'*_HR.png' to pick some."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="NAME=DIR or NAME=DIR/'*_SR.png': one method's outputs (repeat per method).",
        ),
    ] = None,
    patches: Annotated[
        int | None, typer.Option(help="Patches sampled over the reference images (default 100).")
    ] = None,
    patch_size: Annotated[
        int | None, typer.Option(help="Patch side in pixels (default 128).")
    ] = None,
    patches_per_rater: Annotated[
        int | None,
        typer.Option(help="Patches per rater, each shown once per method (default: all)."),
    ] = None,
    allow_revisions: Annotated[
        bool | None, typer.Option("--allow-revisions", help="Let raters change earlier answers.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=2**32 - 1, help="Seed of the patch positions (default 0)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 exposes the study.")
    ] = "127.0.0.1",
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Also answer requests for this host name or address, the one raters open"
            " (repeatable); others than --host and localhost are refused.",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")
    ] = 8000,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads.")] = 8,
    max_raters: Annotated[
        int | None,
        typer.Option(min=1, help="Turn away new raters once the study has this many (all so far)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Rebuild an existing --db, discarding its ratings.")
    ] = False,
) -> None:
    """Build a study (first run) or reopen it (later runs) and serve the rating page."""
    from rwsr.mos.build import ensure_study
    from rwsr.mos.server import check_allowed_hosts
    from rwsr.mos.server import serve as serve_study

    # An existing study is reopened, and SQLite writes its journal files beside it.
    check_output_file(db, option="--db", overwrite=True)
    check_allowed_hosts(allow_host or [])
    options = {
        "patches": patches,
        "patch_size": patch_size,
        "patches_per_rater": patches_per_rater,
        "allow_revisions": allow_revisions,
        "seed": seed,
    }
    config = None
    if ref is not None or method:
        config = study_config(ref, method or [], options)
    else:
        given = [_option_name(key) for key in _STUDY_OPTIONS if options[key] is not None]
        given += ["--overwrite"] if overwrite else []
        if given and db.exists():
            raise ConfigError(
                f"{', '.join(given)}: only apply when building a study with --ref/--method; "
                f"{db} already holds one"
            )
    ensure_study(db, config, overwrite=overwrite, progress=True)
    serve_study(
        db,
        host=host,
        port=port,
        threads=threads,
        max_raters=max_raters,
        allow_hosts=allow_host or [],
        announce=typer.echo,
    )


@app.command("report")
@reports_errors
def report(
    db: Annotated[Path, typer.Option("--db", help="Study database.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the report files.")],
    exclude: Annotated[
        list[int] | None, typer.Option("--exclude", help="Rater id to leave out (repeatable).")
    ] = None,
    min_correlation: Annotated[
        float | None,
        typer.Option(help="Leave out raters whose consensus correlation (-1 to 1) is below this."),
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing report files.")
    ] = False,
) -> None:
    """MOS per method with confidence intervals, rater statistics, tables and a bar chart."""
    from rwsr.mos.report import write_report
    from rwsr.mos.results import compute_report

    check_output_dir(out, option="-o")
    result = compute_report(
        db, exclude=exclude or (), min_correlation=min_correlation, confidence=confidence
    )
    paths = write_report(result, out, overwrite=overwrite)
    for method in result.methods:
        e = method.estimate
        mos = "no ratings" if e.n == 0 else f"MOS {e.mean:.2f}"
        interval = "" if e.n < 2 else f"  [{e.low:.2f}, {e.high:.2f}]"
        typer.echo(f"{method.name:>20}  {mos}{interval}  n={e.n}")
    typer.echo(f"wrote {', '.join(str(path) for path in paths)}")
