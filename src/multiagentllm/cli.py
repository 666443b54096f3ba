"""The `umi` command. Each subcommand is a thin wrapper over one library function; heavy libraries
(torch, transformers) are imported only inside the command that needs them."""

from __future__ import annotations

import typer

from multiagentllm.data.cli import app as data_app

app = typer.Typer(
    name="umi",
    help="alpha-UMi multi-LLM tool agent: build data, train (GLPFT), run, evaluate and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")


@app.callback()
def _main() -> None:
    """alpha-UMi: a planner, a caller and a summarizer, each a small fine-tuned LLM."""


if __name__ == "__main__":
    app()
