"""What one server holds: its limits, the model worker, the tools, the paused episodes and the
admission counter. Routes receive it; nothing here is global, so two apps in one process (the
tests run several) never share state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.agent.exits import QueryError
from multiagentllm.agent.loop import approx_tokens
from multiagentllm.serve.config import AGENT_MODEL, ServeConfig
from multiagentllm.serve.conversation import check_tools
from multiagentllm.serve.episodes import ReplayMismatch
from multiagentllm.serve.errors import APIError
from multiagentllm.serve.protocol import ChatRequest
from multiagentllm.serve.worker import Admission, Cancelled, ModelUnavailable, ModelWorker
from multiagentllm.types import normalize_tool


@dataclass
class ServerState:
    config: ServeConfig
    worker: ModelWorker
    registry: Any
    roles: tuple[str, ...]
    single: bool
    store: Any
    admission: Admission
    executor: ThreadPoolExecutor
    counters: dict[str, int] = field(default_factory=lambda: {"served": 0, "errors": 0})

    @property
    def models(self) -> list[str]:
        return [AGENT_MODEL, *self.roles]

    @property
    def count_tokens(self) -> Callable[[str], int]:
        return getattr(self.worker.llm, "count_tokens", None) or approx_tokens

    def fresh_registry(self) -> Any:
        """A registry with a world of its own, so one episode's bookings never leak into another's."""
        fresh = getattr(self.registry, "fresh", None)
        return fresh() if fresh is not None else self.registry

    def admit(self) -> None:
        """Take a place in the queue or refuse: 503 while the model is not ready, 429 when full."""
        if self.worker.state == "loading":
            raise APIError(503, "the model is still loading; retry shortly", code="model_loading")
        if self.worker.state != "ready":
            raise APIError(503, f"the model is {self.worker.state}: {self.worker.error or 'no details'}",
                           code="model_unavailable")
        if not self.admission.enter():
            raise APIError(429, f"the server is busy ({self.admission.limit} requests in progress); "
                                "retry later", code="queue_full")

    def offered_tools(self, req: ChatRequest) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """(tools offered to the models, client-only tools by name).

        The request's `tools` are offered; a name the server has registered runs on the server
        (with the server's schema, which is what it validates against), any other name is the
        client's to run. `toolset` adds one of the server's tool sets. With neither, every
        registered tool is offered; `tool_choice: "none"` offers none."""
        choice = req.tool_choice
        if choice not in (None, "auto", "none"):
            raise APIError(400, 'tool_choice must be "auto" or "none": the planner decides whether '
                                "and which tool to call", param="tool_choice", code="unsupported_value")
        if choice == "none":
            return [], {}
        requested = check_tools(req.tools, self.config) if req.tools is not None else []
        names = [s["name"] for s in requested]
        if req.toolset is not None:
            try:
                names += [n for n in self.registry.toolset(req.toolset) if n not in names]
            except KeyError as e:
                raise APIError(400, str(e.args[0]) if e.args else f"unknown toolset {req.toolset!r}",
                               param="toolset", code="invalid_value") from None
        elif req.tools is None:
            names = list(self.registry.names)
        client = {s["name"]: s for s in requested if s["name"] not in self.registry}
        server_names = [n for n in names if n not in client]
        server = dict(zip(server_names, map(normalize_tool, self.registry.schemas(server_names))))
        return [client.get(n) or server[n] for n in names], client


def as_api_error(e: BaseException) -> APIError:
    """The status a failure inside a request deserves."""
    if isinstance(e, APIError):
        return e
    if isinstance(e, ModelUnavailable):
        return APIError(503, str(e), code="model_unavailable")
    if isinstance(e, ReplayMismatch):
        return APIError(422, f"the conversation's tool history does not fit the episode: {e}",
                        param="messages", code="history_mismatch")
    if isinstance(e, QueryError):
        return APIError(400, str(e), param="messages", code="invalid_value")
    if isinstance(e, Cancelled):
        return APIError(503, str(e), code="cancelled")
    if isinstance(e, asyncio.TimeoutError | TimeoutError):
        return APIError(503, "timed out waiting for the model", code="timeout")
    return APIError(500, f"the model failed: {type(e).__name__}: {e}", code="model_error")
