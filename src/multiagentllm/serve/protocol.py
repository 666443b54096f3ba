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

import asyncio
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
    """The body as a JSON object: 415 unless it is sent as `application/json` (a browser's
    cross-site "simple" POST cannot set that type, so a web page cannot drive the server), 413 for
    a body over `max_body_bytes` (checked while reading, so a client cannot make the server buffer
    more than the limit), 408 when it takes longer than `read_timeout` to arrive, and 400 for bytes
    that are not JSON or for JSON no part of the server should have to survive (`check_json`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise APIError(415, f"send the body as JSON with Content-Type: application/json (got "
                            f"{media or 'no Content-Type'})", code="unsupported_media_type")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
        raise _too_large(int(declared), config)
    try:
        raw = await asyncio.wait_for(_read_body(request, config), config.read_timeout)
    except asyncio.TimeoutError:
        raise APIError(408, f"the request body did not arrive within {config.read_timeout:g} s",
                       code="request_timeout") from None
    if not raw.strip():
        raise APIError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(body).__name__}",
                       code="invalid_json")
    check_json(body, config)
    return body


async def _read_body(request: Request, config: ServeConfig) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > config.max_body_bytes:
            raise _too_large(size, config)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, config: ServeConfig) -> APIError:
    return APIError(413, f"the request body is {size} bytes or more; the limit is "
                         f"{config.max_body_bytes}", code="request_too_large")


def check_json(value: Any, config: ServeConfig, where: str = "") -> None:
    """400 naming the place of the first string (or key) holding a lone UTF-16 surrogate (JSON
    lets `"\\ud800"` through; no tokenizer or UTF-8 writer takes it), or of nesting deeper than
    `max_json_depth` (the schema checks, grammars and validators downstream walk JSON by
    recursion). Iterative, so the check itself cannot run out of stack."""
    stack: list[tuple[Any, int, _Trail]] = [(value, 0, (where, None) if where else None)]
    while stack:
        node, depth, trail = stack.pop()
        if isinstance(node, str):
            _check_text(node, trail)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= config.max_json_depth:
            place = _render(trail)
            raise APIError(400, f"{place or 'the body'}: nested more than {config.max_json_depth} "
                                "levels deep", param=place or None, code="invalid_value")
        for key, child in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(key, str):
                _check_text(key, trail, is_key=True)
            stack.append((child, depth + 1, (key, trail)))


_Trail = tuple[Any, "_Trail"] | None  # (key, parent): a path built only when an error names it


def _check_text(text: str, trail: _Trail, *, is_key: bool = False) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        place = _render(trail) or "the body"
        what = f"the key {text[:40]!r}" if is_key else f"the text, at character {e.start},"
        raise APIError(400, f"{place}: {what} holds a lone surrogate (U+{ord(text[e.start]):04X}); "
                            "send valid Unicode (a \\ud800-\\udbff escape must be followed by its "
                            "\\udc00-\\udfff pair)", param=place if place != "the body" else None,
                       code="invalid_value") from None


def _render(trail: _Trail, limit: int = 240) -> str:
    """`messages[0].content` from a trail; the middle of a very long path is elided."""
    keys = []
    while trail is not None:
        keys.append(trail[0])
        trail = trail[1]
    path = ""
    for key in reversed(keys):
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path if len(path) <= limit else f"{path[:limit // 2]}...{path[-limit // 2:]}"


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
