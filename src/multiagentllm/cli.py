"""The `umi` command. Each subcommand is a thin wrapper over one library function; heavy libraries
(torch, transformers, the server's) are imported only inside the code that needs them, so
`umi --help` loads none of them (`tests/test_cli_startup.py`)."""

from __future__ import annotations

from pathlib import Path

import typer

from multiagentllm.ab import ab_command
from multiagentllm.agent.cli import run as run_command
from multiagentllm.data.cli import app as data_app
from multiagentllm.demo import DemoConfig, run_demo
from multiagentllm.eval.cli import app as eval_app
from multiagentllm.export_cli import app as export_app
from multiagentllm.paths import repo_path
from multiagentllm.serve.cli import serve as serve_command
from multiagentllm.tools.mcp import serve_library
from multiagentllm.train.cli import app as train_app

app = typer.Typer(
    name="umi",
    help="alpha-UMi multi-LLM tool agent: build data, train (GLPFT), run, evaluate and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app.command("ab", context_settings={"allow_extra_args": True})(ab_command)  # trains, then evaluates
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(export_app, name="export")
app.command("run")(run_command)
app.command("serve")(serve_command)


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("out/demo"), help="Where every stage writes its outputs."),
    synth_n: int = typer.Option(1500, help="Synthetic trajectories to generate."),
    preset: str = typer.Option("cpu-demo", help="Training preset (cpu-demo | cpu-full | tinyllama | a YAML)."),
    eval_limit: int = typer.Option(6, help="Held-out test tasks in the evaluation table."),
    data_root: Path = typer.Option(None, help="Datasets folder [default: ../shared/datasets]."),
) -> None:
    """The whole pipeline on the embedded default: data -> GLPFT -> agent runs -> evaluation."""
    shipped = repo_path("checkpoints", "cpu-full")
    run_demo(DemoConfig(out=out, synth_n=synth_n, preset=preset, eval_limit=eval_limit,
                        data_root=data_root, shipped=shipped))


@app.command("mcp")
def mcp_command(
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind with --http."),
    port: int = typer.Option(8765, "--port", help="Port with --http."),
) -> None:
    """Serve the built-in tool library (travel, calendar, weather, finance, ...) as an MCP server.

    Other agents use it with e.g. `umi run "..." --mcp "umi mcp"` or an MCP client's stdio config."""
    serve_library(http=http, host=host, port=port)


@app.callback()
def _main() -> None:
    """alpha-UMi: a planner, a caller and a summarizer, each a small fine-tuned LLM."""


if __name__ == "__main__":
    app()
