"""Limits of the server, in one place: every one of them turns a request into a clear error
instead of letting it eat the model or the memory of the process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiagentllm.agent.loop import AgentConfig
from multiagentllm.serve.connection import head_deadline_protocol

AGENT_MODEL = "alpha-umi"


@dataclass
class ServeConfig:
    """`queue_size` bounds the requests admitted at once (running + waiting for the model); one
    more is answered 429 at once. `agent` is how every agent episode runs: its limits and the
    runtime's safeguards, the same `AgentConfig` that `umi run` and the evaluations use.
    `agent.max_steps` is the server's step limit per episode; a request may ask for fewer
    (`max_steps` in the body) but not more (422). `agent.max_tools` is the tools retrieved per
    episode, server and client tools alike; `max_tools` here bounds the tools a request sends."""

    queue_size: int = 64
    max_batch: int = 8  # role completions with the same settings are batched into one model call
    max_body_bytes: int = 1 << 20
    max_input_chars: int = 32_000  # a raw prompt, all message contents of a chat, or a rendered prompt
    max_new_tokens: int = 1_024  # cap on `max_tokens` of the role models
    max_prompts: int = 16  # prompts in one /v1/completions request
    max_messages: int = 256
    max_tools: int = 64
    max_stop: int = 16
    max_json_depth: int = 128  # nesting of a body (and of call arguments); deeper is refused, 400
    request_timeout: float = 600.0  # a request that waits longer for the model is answered 503
    paused_episodes: int = 1_024  # episodes waiting for a client's tool results (oldest dropped)
    paused_ttl: float = 3_600.0
    agent: AgentConfig = field(default_factory=AgentConfig)  # episode limits and safeguards
    # Connections (uvicorn's own limits, see `uvicorn_options`) and who may call.
    max_connections: int = 256  # open connections at once; a request on one more is answered 503
    read_timeout: float = 30.0  # seconds to send a request head, and then its body (else 408)
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection is held open
    max_header_bytes: int = 16_384  # a request head (line + headers) still arriving; more is 400
    # When set, every route but /health (and the docs) needs `Authorization: Bearer KEY`.
    api_key: str | None = field(default=None, repr=False)
    docs: bool = False  # serve /docs and /openapi.json

    def uvicorn_options(self) -> dict[str, Any]:
        """The limits uvicorn enforces, as `uvicorn.Config` arguments. uvicorn has no read
        timeouts: `read_timeout` bounds a request head through the protocol class given here
        (`connection.head_deadline_protocol`), and a body where it is read (`protocol.read_json`)."""
        return {"limit_concurrency": self.max_connections, "timeout_keep_alive": self.keep_alive_timeout,
                "h11_max_incomplete_event_size": self.max_header_bytes,
                "http": head_deadline_protocol(self.read_timeout)}
