"""Command-line interface: a thin typer layer over the public API, one module per subcommand."""
