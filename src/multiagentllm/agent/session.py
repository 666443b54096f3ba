"""`run_query`: one episode from the command line or from Python, with the model chosen by flags
(a checkpoint directory, the shipped default, or an OpenAI-compatible endpoint)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multiagentllm.agent.exits import QueryError
from multiagentllm.agent.loop import Agent, AgentConfig, Event, Result, check_query
from multiagentllm.models import load_llm
from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend
from multiagentllm.tools import ToolRegistry, default_registry
from multiagentllm.tools.mcp import MCPError, MCPWarning, connect_all


def build_llm(*, checkpoint: str | None = None, single: bool = False, backend: str = "hf",
              base_url: str | None = None, model: str = "{role}", api_key: str | None = None,
              dtype: str | None = None, engine: str | None = None) -> Any:
    """The `LLM` the flags describe; `backend` is "hf" (in-process: `engine` picks llama.cpp or
    torch, see `models.backends.checkpoint.engine_for`) or "openai" (HTTP)."""
    if backend == "openai":
        if not base_url:
            raise ValueError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        urls, models = per_role(base_url, "--base-url"), per_role(model, "--model")
        roles = set(urls) | set(models)
        return OpenAIBackend({r: Endpoint(urls.get(r) or urls["*"], models.get(r) or models.get("*", "{role}"),
                                          api_key) for r in roles if r in urls or "*" in urls})
    if backend != "hf":
        raise ValueError(f"unknown backend {backend!r}; expected 'hf' or 'openai'")
    return load_llm(checkpoint, single=single, dtype=dtype, engine=engine)


def prepare_tools(query: str, config: AgentConfig, tools: Any = None, toolset: str | None = None) -> Any:
    """Check the query and the tool set before any model is loaded (a bad request should not cost
    a minute of loading); return the registry, by default a fresh built-in one (an isolated
    world per episode)."""
    check_query(query, config.max_query_chars)
    if tools is None:
        tools = default_registry(timeout=config.tool_timeout)
    if toolset:
        try:
            tools.toolset(toolset)
        except KeyError as e:
            raise QueryError(str(e.args[0]) if e.args else f"unknown tool set {toolset!r}") from None
    return tools


def tool_registry(*, builtin: bool, mcp: list[str], timeout: float | None,
                  warn: Callable[[str], None]) -> tuple[Any, list[Any]]:
    """The registry the flags describe: the built-in tools (or none) plus the tools of the MCP
    servers `mcp` (commands or URLs); returns it with the connections, for the caller to close.
    Skipped tools are reported through `warn`; a server that cannot be started or listed raises
    `QueryError` naming it (no other server is left running)."""
    registry = default_registry(timeout=timeout) if builtin else ToolRegistry(default_timeout=timeout)
    if not mcp:
        return registry, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MCPWarning)
        try:
            conns = connect_all(mcp, registry)
        except MCPError as e:
            raise QueryError(str(e)) from None
    for w in caught:
        warn(str(w.message))
    return registry, conns


def per_role(value: str, flag: str) -> dict[str, str]:
    """"URL" -> {"*": URL}; "planner=URL1,caller=URL2,*=URL3" -> one value per role."""
    if "=" not in value.split("://", 1)[0] or value.startswith(("http://", "https://")):
        return {"*": value}
    out = {}
    for part in value.split(","):
        role, sep, item = part.partition("=")
        if not sep or not role.strip() or not item.strip():
            raise ValueError(f"{flag} {value!r}: expected VALUE or ROLE=VALUE,ROLE=VALUE,...")
        out[role.strip()] = item.strip()
    return out


def run_query(query: str, *, llm: Any = None, tools: Any = None, toolset: str | None = None,
              single: bool = False, config: AgentConfig | None = None, save: str | Path | None = None,
              on_event: Callable[[Event], None] | None = None, **llm_options: Any) -> Result:
    """Run the agent once; `llm_options` go to `build_llm` when no `llm` is given."""
    config = config or AgentConfig()
    tools = prepare_tools(query, config, tools, toolset)
    if llm is None:
        llm = build_llm(single=single, **llm_options)
    agent = Agent(llm, tools, config, single_mode=single, save_path=save, on_event=on_event)
    return agent.run(query, toolset=toolset)
