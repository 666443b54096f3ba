"""`umi run`: run the alpha-UMi agent on one request and watch each step live.

    umi run "Book me a flight from New York to Los Angeles next Tuesday"
    umi run "..." --checkpoint checkpoints/cpu-demo --save out/episode.json
    umi run "..." --single                       # the single-LLM baseline
    umi run "..." --mcp "npx -y @modelcontextprotocol/server-everything" --mcp http://localhost:8765/mcp
    umi run "..." --backend openai --base-url http://localhost:8000/v1 --model "{role}"
    umi run "..." --backend openai --base-url "planner=http://a:8000/v1,*=http://b:8000/v1"

Exit status: 0 solved, 3 the episode ended otherwise (given up, or a limit), 2 bad input,
1 no usable model.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from multiagentllm.agent.display import LiveView
from multiagentllm.agent.exits import QueryError
from multiagentllm.agent.loop import AgentConfig, safeguards
from multiagentllm.agent.session import build_llm, prepare_tools, run_query, tool_registry
from multiagentllm.models.backends.checkpoint import CheckpointError
from multiagentllm.models.backends.openai_http import BackendError
from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.tools.mcp import close_all


def run(
    query: str = typer.Argument(..., help="What you want done, in plain words."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="Checkpoint folder (manifest.json); default: the shipped one."),
    single: bool = typer.Option(False, "--single", help="Run the single-LLM baseline instead of the trio."),
    tools: str | None = typer.Option(None, "--tools", help="Tool set to offer (e.g. travel, mcp:<server>); default: all."),
    mcp: list[str] = typer.Option([], "--mcp", help="An MCP server whose tools to add: a command (stdio) or an "
                                                    "http(s) URL (streamable HTTP); repeatable."),
    builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Offer the built-in tool library (with --mcp: off to use only the servers' tools)."),
    max_steps: int = typer.Option(AgentConfig.max_steps, "--max-steps", min=1, help="Planner turns before giving up."),
    max_seconds: float = typer.Option(AgentConfig.max_seconds, "--max-seconds", min=0.1, help="Wall-time limit of the episode."),
    save: Path | None = typer.Option(None, "--save", help="Write the trajectory JSON here (after every step)."),
    backend: str = typer.Option("hf", "--backend", help="hf (in-process) or openai (HTTP endpoint)."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL (http://localhost:8000/v1), or per role: planner=URL,caller=URL,*=URL."),
    model: str = typer.Option("{role}", "--model", help="Served model name ({role} becomes the role), or per role: planner=NAME,..."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="UMI_API_KEY", help="Bearer token for the endpoint."),
    dtype: str | None = typer.Option(None, "--dtype", help="float32 | bfloat16 for the torch engine (default: float32 on CPU)."),
    engine: str | None = typer.Option(None, "--engine", envvar="UMI_ENGINE", help="auto (llama.cpp on a CPU where it can run the checkpoint, else torch) | llamacpp | torch."),
    no_constrain: bool = typer.Option(False, "--no-constrain", help="Decode planner and caller turns without their grammars (ablation)."),
    max_tools: int | None = typer.Option(None, "--max-tools", min=1, help="Tools offered (retrieved) when more are available; default: the trained prompt size."),
    no_retrieval: bool = typer.Option(False, "--no-retrieval", help="Offer every tool of the set, however many."),
    no_guard: bool = typer.Option(False, "--no-guard", help="Let identical calls run again."),
    no_grounding: bool = typer.Option(False, "--no-grounding", help="Accept answers with values no tool returned."),
) -> None:
    """Run the agent on QUERY: planner -> caller -> tools -> summarizer, shown step by step."""
    console, err = Console(), Console(stderr=True)
    config = AgentConfig(max_steps=max_steps, max_seconds=max_seconds,
                         **safeguards(no_constrain=no_constrain, no_retrieval=no_retrieval, no_guard=no_guard,
                                      no_grounding=no_grounding, max_tools=max_tools))
    connections: list = []
    try:
        registry, connections = tool_registry(builtin=builtin, mcp=mcp, timeout=config.tool_timeout,
                                              warn=lambda msg: err.print(f"[yellow]warning:[/] {msg}"))
        if not len(registry):
            raise QueryError("no tools to offer: --no-builtin and no --mcp server with usable tools")
        registry = prepare_tools(query, config, registry, toolset=tools)
        with err.status("loading the models…" if backend == "hf" else "connecting…"):
            llm = build_llm(checkpoint=str(checkpoint) if checkpoint else None, single=single,
                            backend=backend, base_url=base_url, model=model, api_key=api_key,
                            dtype=dtype, engine=engine)
    except (QueryError, ValueError) as e:
        close_all(connections)
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(2) from None
    except (CheckpointError, ModelNotFoundError) as e:
        close_all(connections)
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from None
    try:
        result = run_query(query, llm=llm, tools=registry, toolset=tools, single=single, config=config,
                           save=save, on_event=LiveView(console))
    except BackendError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from None
    finally:
        close_all(connections)
    if save:
        console.print(f"[dim]trajectory saved to {save}[/]")
    raise typer.Exit(0 if result.status == "solved" else 3)
