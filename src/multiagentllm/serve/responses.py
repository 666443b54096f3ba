"""Response bodies in the OpenAI wire format, and server-sent events.

Every body carries an extra `umi` object (what the agent did: status, steps, the raw role
output); OpenAI clients ignore unknown fields, and a client that wants the details can read it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from multiagentllm.serve.errors import APIError


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def tool_call_json(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}


def chat_completion(model: str, *, content: str | None, finish_reason: str,
                    tool_calls: list[dict[str, Any]] | None = None,
                    usage_: dict[str, int] | None = None,
                    umi: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {"id": new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": finish_reason, "logprobs": None}]}
    if usage_ is not None:
        body["usage"] = usage_
    if umi is not None:
        body["umi"] = umi
    return body


class ChunkWriter:
    """The `chat.completion.chunk` events of one streamed response, all with one id."""

    def __init__(self, model: str):
        self.model, self.id, self.created = model, new_id("chatcmpl"), int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None,
              **extra: Any) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                             "logprobs": None}], **extra}
        return sse(body)

    def usage_chunk(self, usage_: dict[str, int]) -> str:
        return sse({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage_})

    def final(self, *, content: str | None, finish_reason: str,
              tool_calls: list[dict[str, Any]] | None, umi: dict[str, Any] | None) -> list[str]:
        """The closing chunks: the content or tool calls, then the finish reason."""
        out = []
        if content:
            out.append(self.chunk({"content": content}))
        if tool_calls:
            out.append(self.chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(tool_calls)]}))
        out.append(self.chunk({}, finish_reason, **({"umi": umi} if umi else {})))
        return out


def sse(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"


def sse_error(error: APIError) -> str:
    """An error after the stream began (the status is already 200): the OpenAI client raises it."""
    return sse(error.body())
