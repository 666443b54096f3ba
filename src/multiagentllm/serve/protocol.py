"""Request bodies of the OpenAI API (the subset this server honours) and how they are read.

Bodies are read by hand rather than through FastAPI's body injection so that each failure gets
its own status: a body over the size limit is 413 before it is parsed, bytes that are not JSON
are 400, an unknown model is 404 even when the rest of the body is wrong, and a field of the
wrong type is 400 naming the field. Unknown fields are ignored (clients send `user`, `seed`,
`stream_options`, ...); fields whose meaning this server cannot honour (`n` > 1, `logprobs`,
`echo`) are refused rather than silently dropped. Decoding is always greedy, so `temperature`
and `top_p` are accepted and ignored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multiagentllm.serve.config import ServeConfig
from multiagentllm.serve.errors import APIError

_LOOSE = ConfigDict(extra="allow", strict=True)


class TextPart(BaseModel):
    model_config = _LOOSE
    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    model_config = _LOOSE
    name: str
    arguments: str = "{}"


class ToolCallIn(BaseModel):
    model_config = _LOOSE
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = _LOOSE
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


Stop = str | list[str] | None
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]


class Sampling(BaseModel):
    """Fields shared by both endpoints."""

    model_config = _LOOSE
    model: str
    stream: bool = False
    max_tokens: PosInt | None = None
    stop: Stop = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: PosInt | None = None


class ChatRequest(Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    tools: list[Any] | None = None
    tool_choice: Any = None
    max_completion_tokens: PosInt | None = None
    logprobs: bool | None = None
    stream_options: dict[str, Any] | None = None
    # extensions (send them with the openai client's `extra_body`)
    max_steps: PosInt | None = None
    toolset: str | None = None


class CompletionRequest(Sampling):
    prompt: str | list[str]
    echo: bool | None = None
    logprobs: NonNegInt | None = None
    best_of: PosInt | None = None
    suffix: str | None = None


async def read_json(request: Request, config: ServeConfig) -> dict[str, Any]:
    """The body as a JSON object, with 413 for a body over `max_body_bytes` (checked while
    reading, so a client cannot make the server buffer more than the limit) and 400 otherwise."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
        raise _too_large(int(declared), config)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > config.max_body_bytes:
            raise _too_large(size, config)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise APIError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(body).__name__}",
                       code="invalid_json")
    return body


def _too_large(size: int, config: ServeConfig) -> APIError:
    return APIError(413, f"the request body is {size} bytes or more; the limit is "
                         f"{config.max_body_bytes}", code="request_too_large")


def validate(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """`model.model_validate(body)`, with the first error as a 400 that names the field."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        got = json.dumps(err.get("input"), default=str)[:80] if "input" in err else ""
        raise APIError(400, f"{param or 'body'}: {err['msg']}" + (f" (got {got})" if got else ""),
                       param=param, code="invalid_value") from None


def stop_list(stop: Stop, config: ServeConfig) -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > config.max_stop:
        raise APIError(400, f"stop has {len(stops)} strings; the limit is {config.max_stop}",
                       param="stop", code="invalid_value")
    if any(not s for s in stops):
        raise APIError(400, "stop strings must not be empty", param="stop", code="invalid_value")
    return stops


def refuse_unsupported(req: Sampling) -> None:
    """400 for parameters whose meaning a greedy, one-answer server cannot give."""
    if req.n not in (None, 1):
        raise APIError(400, "n must be 1: decoding is greedy, every choice would be the same",
                       param="n", code="unsupported_value")
    if getattr(req, "best_of", None) not in (None, 1):
        raise APIError(400, "best_of must be 1 (greedy decoding)", param="best_of",
                       code="unsupported_value")
    if getattr(req, "logprobs", None):
        raise APIError(400, "logprobs are not available from this server", param="logprobs",
                       code="unsupported_value")
    if getattr(req, "echo", None):
        raise APIError(400, "echo is not supported", param="echo", code="unsupported_value")
    if getattr(req, "suffix", None):
        raise APIError(400, "suffix (insertion) is not supported", param="suffix",
                       code="unsupported_value")
