"""Limits of the server, in one place: every one of them turns a request into a clear error
instead of letting it eat the model or the memory of the process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiagentllm.agent.loop import safeguards

AGENT_MODEL = "alpha-umi"
THREE_ROLES = ("planner", "caller", "summarizer")


@dataclass
class ServeConfig:
    """`queue_size` bounds the requests admitted at once (running + waiting for the model); one
    more is answered 429 at once. `max_steps` is the server's step limit per episode; a request
    may ask for fewer (`max_steps` in the body) but not more (422)."""

    queue_size: int = 64
    max_batch: int = 8  # role completions with the same settings are batched into one model call
    max_body_bytes: int = 1 << 20
    max_input_chars: int = 32_000  # a raw prompt, or all message contents of a chat together
    max_query_chars: int = 4_000  # the instruction of an agent episode
    max_new_tokens: int = 1_024  # cap on `max_tokens` of the role models
    max_prompts: int = 16  # prompts in one /v1/completions request
    max_messages: int = 256
    max_tools: int = 64
    max_stop: int = 16
    max_steps: int = 12
    max_format_errors: int = 3
    max_episode_tokens: int | None = 100_000
    max_episode_seconds: float | None = 600.0
    tool_timeout: float = 10.0
    request_timeout: float = 600.0  # a request that waits longer for the model is answered 503
    paused_episodes: int = 1_024  # episodes waiting for a client's tool results (oldest dropped)
    paused_ttl: float = 3_600.0
    # The runtime's safeguards for agent episodes: `AgentConfig` fields (`agent.loop.SAFEGUARDS`);
    # `max_tools` there is the tools retrieved per episode, server and client tools alike.
    safeguards: dict[str, Any] = field(default_factory=safeguards)
