"""Tools from MCP servers, and the built-in tool library served as one.

Client side (`umi run --mcp`, `umi serve --mcp`, `umi eval passrate --mcp`): each server is named
by a command line (started as a subprocess and spoken to over stdio) or by a URL (streamable
HTTP). `connect(spec)` lists the server's tools with the official `mcp` SDK; each tool whose
`inputSchema` maps to the canonical tool schema (`types.normalize_tool`, then the registry's own
`check_tool_schema`) becomes an `MCPTool` that the `ToolRegistry` registers like a built-in one,
so retrieval and constrained decoding apply to it unchanged. A tool whose schema cannot be mapped,
or whose name a registered tool already has, is skipped with an `MCPWarning` naming it.

Calls go through the registry, with its timeout and error handling: an `isError` result, a server
that died, a transport error and a call that outlives its timeout each become an
`{"error": ...}` observation the agent sees; once the server is gone every later call says so at
once, and the agent's loop guard ends the episode. Nothing waits forever: connecting, listing and
each call have deadlines.

The SDK is asynchronous and the agent is not: each connection runs its own event loop in a
daemon thread, and the synchronous tool call waits on a future of that loop.

Server side (`umi mcp`): `serve_library()` exposes the built-in tools (travel database, calendar,
weather, finance, units, math, text, knowledge) over stdio or streamable HTTP. The server keeps one
tool world for its lifetime, so a booking made by one call is there for the next, as with a real
service.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.tools import default_registry
from multiagentllm.tools.registry import ToolError, ToolRegistry
from multiagentllm.tools.runner import ToolTimeout
from multiagentllm.tools.schema_check import ToolSchemaError, check_tool_schema
from multiagentllm.types import SchemaError, normalize_tool

CONNECT_TIMEOUT = 30.0  # seconds to start a server and list its tools
CALL_TIMEOUT = 30.0  # a call's own deadline when the registry gives none


class MCPError(RuntimeError):
    """An MCP server that cannot be started, reached or understood."""


class MCPWarning(UserWarning):
    """A tool of an MCP server that is skipped (its schema cannot be mapped, or its name is taken)."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def server_params(spec: str) -> Any:
    """What `mcp.Client` connects to: the URL itself, or the command line to start over stdio."""
    from mcp.client.stdio import StdioServerParameters

    if is_url(spec):
        return spec
    argv = shlex.split(spec)
    if not argv:
        raise MCPError("an empty MCP server command")
    return StdioServerParameters(command=argv[0], args=argv[1:])


@dataclass
class MCPConnection:
    """One live MCP server session, driven from a private event loop in a daemon thread."""

    spec: str
    connect_timeout: float = CONNECT_TIMEOUT
    _loop: asyncio.AbstractEventLoop = field(init=False, repr=False)
    _thread: threading.Thread = field(init=False, repr=False)
    _stack: AsyncExitStack | None = field(init=False, default=None, repr=False)
    _client: Any = field(init=False, default=None, repr=False)
    _closed: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="mcp-client")
        self._thread.start()

    name: str | None = field(init=False, default=None)  # what the server calls itself, once connected

    @property
    def label(self) -> str:
        """The server's own name once known, else its command line or URL (shortened)."""
        if self.name:
            return self.name
        return self.spec if len(self.spec) <= 60 else self.spec[:57] + "..."

    def _run(self, coro: Any, timeout: float | None, what: str) -> Any:
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise MCPError(f"MCP server {self.label!r}: {what} took longer than {timeout:g} s") from None
        except BaseException:  # the registry's timeout interrupts this thread: drop the call too
            future.cancel()
            raise

    def open(self) -> "MCPConnection":
        from mcp import Client

        async def enter() -> Any:
            stack = AsyncExitStack()
            client = await stack.enter_async_context(Client(server_params(self.spec), mode="legacy"))
            self._stack, self._client = stack, client
            info = client.server_info
            self.name = getattr(info, "name", None) or None
            return client

        try:
            self._run(enter(), self.connect_timeout, "starting")
        except MCPError:
            self.close()
            raise
        except Exception as e:  # noqa: BLE001 - whatever the transport raises, say which server
            self.close()
            raise MCPError(f"MCP server {self.label!r} could not be started or reached: "
                           f"{type(e).__name__}: {_message(e)}") from None
        return self

    def list_tools(self) -> list[Any]:
        if self._client is None:
            raise MCPError(f"MCP server {self.label!r} is not connected")

        async def listing() -> list[Any]:
            tools, cursor = [], None
            while True:
                page = await self._client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    return tools

        try:
            return self._run(listing(), self.connect_timeout, "listing its tools")
        except MCPError:
            raise
        except Exception as e:  # noqa: BLE001
            raise MCPError(f"MCP server {self.label!r} did not list its tools: {type(e).__name__}: {_message(e)}") from None

    def call(self, name: str, arguments: dict[str, Any], timeout: float | None) -> Any:
        """The tool's result: its structured content, else its text; an error result raises
        `ToolError`, a dead or silent server `MCPError`."""
        if self._closed:
            raise MCPError(f"MCP server {self.label!r} is not running ({self._closed})")
        if self._client is None:
            raise MCPError(f"MCP server {self.label!r} is not connected")
        from mcp.shared.exceptions import MCPError as ProtocolError
        from mcp_types import CONNECTION_CLOSED

        deadline = timeout if timeout is not None else CALL_TIMEOUT
        try:
            result = self._run(self._client.call_tool(name, arguments, read_timeout_seconds=deadline),
                               deadline + 1.0, f"the call to {name!r}")
        except (MCPError, ToolError, ToolTimeout):  # (the registry's timeout interrupts this thread)
            raise
        except ProtocolError as e:
            if e.code != CONNECTION_CLOSED:  # an error answer, or this request timed out: the server lives
                raise ToolError(f"MCP server {self.label!r}, tool {name!r}: {e.message}") from None
            self._closed = f"connection closed: {e.message}"
            raise MCPError(f"MCP server {self.label!r} failed during the call to {name!r}: {self._closed}") from None
        except Exception as e:  # noqa: BLE001 - a transport failure: the server is gone
            self._closed = f"{type(e).__name__}: {_message(e)}"
            raise MCPError(f"MCP server {self.label!r} failed during the call to {name!r}: {self._closed}") from None
        text = _text(result.content)
        if result.is_error:
            raise ToolError(text or f"MCP tool {name!r} reported an error")
        if result.structured_content is not None:
            return result.structured_content
        return _maybe_json(text)

    def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            try:
                self._run(stack.aclose(), 10.0, "shutting down")
            except Exception:  # noqa: BLE001 - closing a broken connection is best effort
                pass
        self._closed = self._closed or "closed"
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)


def _message(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup) and e.exceptions:
        return _message(e.exceptions[0])
    return str(e) or type(e).__name__


def _text(content: Iterable[Any]) -> str:
    parts = []
    for block in content or []:
        kind = getattr(block, "type", None)
        parts.append(block.text if kind == "text" else f"[{kind or 'content'} omitted]")
    return "\n".join(parts)


def _maybe_json(text: str) -> Any:
    """A text result that is JSON is passed on as its value (the observation is then compact JSON
    like a built-in tool's); other text stays text."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


@dataclass
class MCPTool:
    """An MCP server's tool, registered in a `ToolRegistry` like a built-in one."""

    name: str
    schema: dict[str, Any]
    connection: MCPConnection
    domain: str = "mcp"
    timeout: float | None = None

    def __call__(self, **arguments: Any) -> Any:
        return self.connection.call(self.name, arguments, self.timeout)


def tool_schema(tool: Any) -> dict[str, Any]:
    """The canonical schema of an MCP `Tool`; `SchemaError`/`ToolSchemaError` if it has none."""
    schema = normalize_tool({"name": tool.name, "description": tool.description or tool.title or "",
                             "parameters": tool.input_schema or {"type": "object", "properties": {}}},
                            where=f"MCP tool {tool.name!r}")
    check_tool_schema(schema)
    return schema


def connect(spec: str, registry: ToolRegistry, *, connect_timeout: float = CONNECT_TIMEOUT) -> MCPConnection:
    """Start or reach the server of `spec`, and register its tools in `registry` (domain
    "mcp:<server>", so `--tools mcp:<server>` offers only them)."""
    conn = MCPConnection(spec, connect_timeout=connect_timeout).open()
    domain = f"mcp:{conn.name or len(registry.toolset_names())}"
    added = []
    for tool in conn.list_tools():
        try:
            schema = tool_schema(tool)
        except (SchemaError, ToolSchemaError) as e:
            warnings.warn(MCPWarning(f"MCP server {conn.label!r}: tool {tool.name!r} skipped: {e}"), stacklevel=2)
            continue
        if schema["name"] in registry:
            warnings.warn(MCPWarning(f"MCP server {conn.label!r}: tool {tool.name!r} skipped: a tool of that "
                                     "name is already registered"), stacklevel=2)
            continue
        registry.register(MCPTool(schema["name"], schema, conn, domain, registry.default_timeout))
        added.append(schema["name"])
    if not added:
        warnings.warn(MCPWarning(f"MCP server {conn.label!r} offers no usable tool"), stacklevel=2)
    return conn


def connect_all(specs: Iterable[str], registry: ToolRegistry) -> list[MCPConnection]:
    """`connect` each spec; on a failure the servers already started are closed again."""
    conns: list[MCPConnection] = []
    try:
        for spec in specs:
            conns.append(connect(spec, registry))
    except BaseException:
        for conn in conns:
            conn.close()
        raise
    return conns


def close_all(connections: Iterable[MCPConnection]) -> None:
    for conn in connections:
        conn.close()


# the server side ------------------------------------------------------------------------------

def library_server(registry: ToolRegistry | None = None) -> Any:
    """A low-level MCP `Server` exposing `registry` (default: the built-in tool library)."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    if registry is None:
        registry = default_registry()

    tools = [types.Tool(name=s["name"], description=s.get("description") or None, input_schema=s["parameters"])
             for s in registry.schemas()]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        observation = await anyio.to_thread.run_sync(registry.call, params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text", text=observation.content)],
                                    is_error=not observation.ok)

    return Server("multiagentllm-tools", on_list_tools=list_tools, on_call_tool=call_tool)


def serve_library(*, http: bool = False, host: str = "127.0.0.1", port: int = 8765,
                  registry: ToolRegistry | None = None) -> None:
    """Serve the tool library over stdio (default) or streamable HTTP at http://HOST:PORT/mcp."""
    import anyio

    server = library_server(registry)
    if http:
        import uvicorn

        uvicorn.run(server.streamable_http_app(host=host), host=host, port=port, log_level="warning")
        return
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
