"""The role models, served directly: `planner`, `caller`, `summarizer` (or `single`).

Two ways in:

- `POST /v1/completions` takes a raw prompt (a string or a list of them) and returns the model's
  continuation, nothing added: this is what the runtime's OpenAI backend calls, with prompts it
  rendered itself. `max_tokens` defaults to the role's budget; `stop` is applied as given.
- `POST /v1/chat/completions` takes a conversation (see `conversation.py`) and renders it with the
  role's own prompt from `multiagentllm.roles`, with the role's stop strings:

  planner     ends with the user's request or a tool result; answers the raw
              "Rationale: ...\\nNext: ..." text as content (`umi.rationale`, `umi.next` parsed).
  caller      ends with an assistant message holding the planner's rationale; answers the call as
              `tool_calls` (finish_reason `tool_calls`), or the raw text when it does not parse.
  summarizer  may end with the planner's rationale; answers the final answer as content.
  single      plays the turn the conversation calls for: planner after a user/tool message,
              summarizer after "Next: Summarizer", caller after any other rationale.

  Every response carries `umi.raw` (the model's exact text) and `umi.turn`; a text that does not
  parse has `umi.format_error`. The role models generate whole texts (the `LLM` protocol has no
  token stream), so a streamed role response is one content chunk.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.responses import StreamingResponse

from multiagentllm.roles import FormatError, caller, planner, registry, summarizer
from multiagentllm.serve.config import AGENT_MODEL, ServeConfig
from multiagentllm.serve.conversation import Conversation, parse_conversation
from multiagentllm.serve.errors import APIError
from multiagentllm.serve.protocol import ChatRequest, CompletionRequest, stop_list
from multiagentllm.serve.responses import (
    DONE, ChunkWriter, chat_completion, new_id, sse, tool_call_json, usage,
)
from multiagentllm.serve.state import ServerState, as_api_error
from multiagentllm.types import Step


def default_max_tokens(model: str) -> int:
    """The budget of the model's turn; for a model writing every turn (`single`), the largest."""
    return max(registry.max_new_tokens(t) for t in ((model,) if model in registry.TRIO else registry.TRIO))


def check_max_tokens(value: int | None, model: str, state: ServerState) -> int:
    value = value or default_max_tokens(model)
    if value > state.config.max_new_tokens:
        raise APIError(400, f"max_tokens is {value}; this server allows at most "
                            f"{state.config.max_new_tokens}", param="max_tokens", code="invalid_value")
    return value


async def generate(state: ServerState, prompts: list[str], *, role: str, max_new_tokens: int,
                   stop: list[str]) -> list[str]:
    """Queue the prompts for the model worker and wait; the place in the queue is held till then."""
    state.admit()
    future = None
    try:
        future = state.worker.submit(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop)
        return await asyncio.wait_for(asyncio.wrap_future(future), state.config.request_timeout)
    except Exception as e:  # noqa: BLE001 - every failure becomes an OpenAI error
        if future is not None:
            future.cancel()
        raise as_api_error(e) from e
    finally:
        state.admission.leave()


# --- chat --------------------------------------------------------------------------------------

def role_turn(model: str, conv: Conversation) -> str:
    if model != "single":
        return model
    if conv.pending is None:
        return "planner"
    return "summarizer" if conv.pending_next == "summarizer" else "caller"


def render(model: str, turn: str, conv: Conversation, tools: list[dict[str, Any]]) -> str:
    """The role's prompt for this conversation, from the same functions training used."""
    steps = [Step(p.rationale, "caller", p.call, p.observation) for p in conv.calls]
    if turn == "planner" and conv.pending is not None:
        raise APIError(400, "the planner writes the next rationale: end the conversation with "
                            "the user's request or a tool result, not an assistant message",
                       param="messages", code="invalid_value")
    if turn == "caller" and conv.pending is None:
        raise APIError(400, "the caller carries out the planner's rationale: end the "
                            "conversation with an assistant message that holds it",
                       param="messages", code="invalid_value")
    if turn == "summarizer":
        steps.append(Step(conv.pending or "", "summarizer"))
    return registry.prompt(turn, conv.instruction, tools, steps, conv.pending, single=model == "single")


def check_prompt(prompt: str, turn: str, config: ServeConfig) -> None:
    """413 for a rendered prompt over `max_input_chars`: instructions, histories and tool lists
    that pass their own limits can still add up to more than a model can read."""
    if len(prompt) > config.max_input_chars:
        raise APIError(413, f"the rendered {turn} prompt is {len(prompt)} characters; the limit is "
                            f"{config.max_input_chars} (send fewer or smaller tools, or a shorter "
                            "history)", param="messages", code="context_length_exceeded")


def role_prompt(state: ServerState, req: ChatRequest) -> tuple[str, str]:
    """(turn, prompt) for a role chat request, checked."""
    conv = parse_conversation(req.messages, state.config)
    tools, _ = state.offered_tools(req)
    turn = role_turn(req.model, conv)
    prompt = render(req.model, turn, conv, tools)
    check_prompt(prompt, turn, state.config)
    return turn, prompt


async def chat_role(state: ServerState, req: ChatRequest) -> Any:
    # off the event loop: checking a large tool list takes a while (see `agent_chat.chat_agent`)
    turn, prompt = await asyncio.to_thread(role_prompt, state, req)
    max_new = check_max_tokens(req.max_completion_tokens or req.max_tokens, turn, state)
    stop = list(dict.fromkeys([*registry.stop(turn), *stop_list(req.stop, state.config)]))
    raw = (await generate(state, [prompt], role=req.model, max_new_tokens=max_new, stop=stop))[0]
    count = state.count_tokens
    used = usage(count(prompt), count(raw))
    umi: dict[str, Any] = {"turn": turn, "raw": raw}
    content: str | None = raw
    tool_calls = None
    finish = "length" if count(raw) >= max_new else "stop"
    try:
        if turn == "planner":
            umi["rationale"], umi["next"] = planner.parse(raw)
        elif turn == "caller":
            call = caller.parse(raw)
            content, finish = None, "tool_calls"
            tool_calls = [tool_call_json(new_id("call"), call.name, call.arguments)]
        else:
            content = summarizer.parse(raw)
    except FormatError as e:
        umi["format_error"] = str(e)
    if not req.stream:
        return chat_completion(req.model, content=content, finish_reason=finish,
                               tool_calls=tool_calls, usage_=used, umi=umi)
    writer = ChunkWriter(req.model)
    chunks = [writer.chunk({"role": "assistant", "content": ""}),
              *writer.final(content=content, finish_reason=finish, tool_calls=tool_calls, umi=umi)]
    if (req.stream_options or {}).get("include_usage"):
        chunks.append(writer.usage_chunk(used))
    return _sse_response([*chunks, DONE])


# --- completions -------------------------------------------------------------------------------

async def completions(state: ServerState, req: CompletionRequest) -> Any:
    if req.model == AGENT_MODEL:
        raise APIError(400, f"model {AGENT_MODEL!r} runs the agent loop: use /v1/chat/completions; "
                            f"/v1/completions serves the role models {', '.join(state.roles)}",
                       param="model", code="model_not_supported")
    prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
    if not prompts:
        raise APIError(400, "prompt is an empty list", param="prompt", code="invalid_value")
    if len(prompts) > state.config.max_prompts:
        raise APIError(413, f"{len(prompts)} prompts in one request; the limit is "
                            f"{state.config.max_prompts}", param="prompt", code="too_many_prompts")
    for i, p in enumerate(prompts):
        if len(p) > state.config.max_input_chars:
            raise APIError(413, f"prompt[{i}] is {len(p)} characters; the limit is "
                                f"{state.config.max_input_chars}", param="prompt",
                           code="context_length_exceeded")
    max_new = check_max_tokens(req.max_tokens, req.model, state)
    stop = stop_list(req.stop, state.config)
    texts = await generate(state, prompts, role=req.model, max_new_tokens=max_new, stop=stop)
    count = state.count_tokens
    cid, created = new_id("cmpl"), int(time.time())
    choices = [{"text": t, "index": i, "logprobs": None,
                "finish_reason": "length" if count(t) >= max_new else "stop"}
               for i, t in enumerate(texts)]
    used = usage(sum(map(count, prompts)), sum(map(count, texts)))
    if not req.stream:
        return {"id": cid, "object": "text_completion", "created": created, "model": req.model,
                "choices": choices, "usage": used}
    head = {"id": cid, "object": "text_completion", "created": created, "model": req.model}
    events = [sse({**head, "choices": [c]}) for c in choices]
    return _sse_response([*events, DONE])


def _sse_response(chunks: list[str]) -> StreamingResponse:
    async def gen():
        for chunk in chunks:
            yield chunk

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
