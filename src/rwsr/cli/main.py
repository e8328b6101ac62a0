"""The `rwsr` command. Each subcommand lives in its own module and is registered here
explicitly (no import-time registry); heavy imports happen inside the commands."""

from __future__ import annotations

import sys

import typer

from rwsr.cli import (
    bench,
    convert,
    distill,
    evaluate,
    info,
    models,
    mos,
    noise,
    pairs,
    train,
    upscale,
)
from rwsr.cli import ngdc as ngdc_command
from rwsr.cli.common import keep_freed_memory

app = typer.Typer(
    name="rwsr",
    help="Real-world image super-resolution by exclusionary dual-learning (RWSR-EDL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("upscale")(upscale.upscale)
app.command("info")(info.info)
app.command("train")(train.train)
app.command("distill")(distill.distill)
app.command("convert")(convert.convert)
app.add_typer(models.app, name="models")
app.add_typer(mos.app, name="mos")
app.command("pairs")(pairs.pairs)
app.add_typer(noise.app, name="noise")
app.command("ngdc")(ngdc_command.ngdc)
app.command("evaluate")(evaluate.evaluate)
app.command("bench")(bench.bench)


# The commands whose tensors are large and repeat (frames, training steps): there keeping
# freed memory pays; a long-running server such as `rwsr mos serve` should give it back.
KEEPS_FREED_MEMORY = frozenset({"upscale", "train", "distill", "evaluate", "bench"})


def main() -> None:
    if set(sys.argv[1:2]) & KEEPS_FREED_MEMORY:
        keep_freed_memory()
    app(prog_name="rwsr")
