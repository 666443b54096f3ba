"""`umi serve`: the agent and its role models behind an OpenAI-compatible HTTP API.

    umi serve                                        # the shipped checkpoint on 127.0.0.1:8000
    umi serve --checkpoint checkpoints/cpu-demo --port 8080
    umi serve --single                               # the single-LLM baseline
    umi serve --backend openai --base-url http://gpu-box:8000/v1 --model "umi-{role}"
                                                     # run the loop here, generate on vLLM
    UMI_API_KEY=s3cret umi serve --host 0.0.0.0      # every route but /health needs the key

Then point any OpenAI client at it:

    OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="s3cret")   # any api_key without --api-key
        .chat.completions.create(model="alpha-umi", messages=[{"role": "user", "content": "..."}])

Exit status: 1 when no model can be loaded, 2 for bad options. Without --api-key the server has
no authentication: it listens on loopback unless --host says otherwise.
"""

from __future__ import annotations

import socket
from pathlib import Path

import typer
from rich.console import Console

from multiagentllm.agent.exits import QueryError
from multiagentllm.agent.loop import AgentConfig, safeguards
from multiagentllm.agent.session import build_llm, tool_registry
from multiagentllm.models.backends.checkpoint import CheckpointError
from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.serve.config import ServeConfig
from multiagentllm.tools.mcp import close_all

_D = ServeConfig  # the defaults, in one place


def serve(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="Checkpoint folder (manifest.json); default: the shipped one."),
    single: bool = typer.Option(False, "--single", help="Serve the single-LLM baseline instead of the trio."),
    backend: str = typer.Option("hf", "--backend", help="hf (in-process) or openai (generate on another endpoint)."),
    base_url: str | None = typer.Option(None, "--base-url", help="With --backend openai: the endpoint's base URL."),
    model: str = typer.Option("{role}", "--model", help="With --backend openai: served model name; {role} is replaced."),
    backend_api_key: str | None = typer.Option(None, "--backend-api-key", envvar="UMI_BACKEND_API_KEY",
                                               help="With --backend openai: bearer token for that endpoint."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="UMI_API_KEY",
                                       help="Require 'Authorization: Bearer KEY' on every route but /health (401 otherwise)."),
    docs: bool = typer.Option(False, "--docs", help="Serve the API docs at /docs and /openapi.json."),
    dtype: str | None = typer.Option(None, "--dtype", help="float32 | bfloat16 for the torch engine (default: float32 on CPU)."),
    engine: str | None = typer.Option(None, "--engine", envvar="UMI_ENGINE", help="auto (llama.cpp on a CPU where it can run the checkpoint, else torch) | llamacpp | torch."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (without --api-key: keep it local)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    max_steps: int = typer.Option(AgentConfig.max_steps, "--max-steps", min=1, help="Most planner turns per episode (requests may ask fewer)."),
    queue_size: int = typer.Option(_D.queue_size, "--queue-size", min=1, help="Requests in progress at once; more get 429."),
    max_batch: int = typer.Option(_D.max_batch, "--max-batch", min=1, help="Waiting role completions merged into one model call."),
    request_timeout: float = typer.Option(_D.request_timeout, "--request-timeout", min=0.1, help="Seconds a request may wait for the model (then 503)."),
    max_connections: int = typer.Option(_D.max_connections, "--max-connections", min=1, help="Open connections at once; a request on one more gets 503."),
    read_timeout: float = typer.Option(_D.read_timeout, "--read-timeout", min=0.1, help="Seconds a client may take to send a request head, and then its body (then 408)."),
    keep_alive_timeout: int = typer.Option(_D.keep_alive_timeout, "--keep-alive-timeout", min=1, help="Seconds an idle keep-alive connection stays open."),
    max_header_bytes: int = typer.Option(_D.max_header_bytes, "--max-header-bytes", min=1_024, help="Bytes of a request head (line + headers) buffered while it arrives (then 400)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    no_constrain: bool = typer.Option(False, "--no-constrain", help="Decode agent turns without their grammars (ablation)."),
    max_tools: int | None = typer.Option(None, "--max-tools", min=1, help="Tools offered per episode (retrieved); default: the trained prompt size."),
    no_retrieval: bool = typer.Option(False, "--no-retrieval", help="Offer every tool, however many."),
    no_guard: bool = typer.Option(False, "--no-guard", help="Let identical calls run again."),
    no_grounding: bool = typer.Option(False, "--no-grounding", help="Accept answers with values no tool returned."),
    mcp: list[str] = typer.Option([], "--mcp", help="An MCP server whose tools run on this server: a command (stdio) "
                                                    "or an http(s) URL (streamable HTTP); repeatable."),
    builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Offer the built-in tool library (off: only --mcp tools and the clients' own)."),
) -> None:
    """Serve the alpha-UMi agent (model alpha-umi) and its role models over the OpenAI API."""
    err = Console(stderr=True)
    if backend not in ("hf", "openai"):
        err.print(f"[bold red]error:[/] unknown backend {backend!r}; expected 'hf' or 'openai'")
        raise typer.Exit(2)
    if not _port_free(host, port):
        err.print(f"[bold red]error:[/] cannot listen on {host}:{port} (in use, or not an address of this machine)")
        raise typer.Exit(2)

    # The app (FastAPI, pydantic models) costs +0.3 s on `import multiagentllm.cli` (python -X
    # importtime): loaded when a server starts, not for every `umi` command.
    import uvicorn

    from multiagentllm.serve.app import create_app

    try:
        registry, connections = tool_registry(builtin=builtin, mcp=mcp, timeout=AgentConfig.tool_timeout,
                                              warn=lambda msg: err.print(f"[yellow]warning:[/] {msg}"))
    except QueryError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(2) from None
    try:
        with err.status("loading the models…" if backend == "hf" else "connecting…"):
            llm = build_llm(checkpoint=str(checkpoint) if checkpoint else None, single=single,
                            backend=backend, base_url=base_url, model=model, api_key=backend_api_key,
                            dtype=dtype, engine=engine)
    except ValueError as e:
        close_all(connections)
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(2) from None
    except (CheckpointError, ModelNotFoundError, OSError) as e:
        close_all(connections)
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from None
    agent = AgentConfig(max_steps=max_steps, **safeguards(no_constrain=no_constrain, no_retrieval=no_retrieval,
                                                          no_guard=no_guard, no_grounding=no_grounding,
                                                          max_tools=max_tools))
    config = ServeConfig(agent=agent, queue_size=queue_size, max_batch=max_batch,
                         request_timeout=request_timeout, max_connections=max_connections,
                         read_timeout=read_timeout, keep_alive_timeout=keep_alive_timeout,
                         max_header_bytes=max_header_bytes, api_key=api_key or None, docs=docs)
    app = create_app(llm, registry, config=config, single=single)
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
        err.print(f"[yellow]warning:[/] listening on {host} without authentication (see --api-key)")
    models = ", ".join(app.state.umi.models)
    err.print(f"serving [bold]{models}[/] at http://{host}:{port}/v1  (health: /health)")
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=_log_config(log_level),
                    **config.uvicorn_options())
    finally:
        close_all(connections)


def _log_config(level: str) -> dict:
    """uvicorn's logging, with the server's own one-line messages (a client that left, the model
    loaded) printed the same way and at the same level."""
    import copy

    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["multiagentllm"] = {"handlers": ["default"], "propagate": False,
                                          "level": LOG_LEVELS.get(level.lower(), "INFO")}
    return config


def _port_free(host: str, port: int) -> bool:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        return True
    except OSError:
        return False
