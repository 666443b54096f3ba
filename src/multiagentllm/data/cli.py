"""`umi data` subcommands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build training data from public datasets and synthetic trajectories.",
                  no_args_is_help=True)
