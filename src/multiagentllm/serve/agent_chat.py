"""Model `alpha-umi`: one chat request runs the whole agent loop (`multiagentllm.agent.Agent`).

The answer is the message content. An episode that stops at a tool only the client knows answers
with `tool_calls` (finish_reason `tool_calls`; the content is the planner's rationale) and goes on
when the client sends the conversation back with a `role: tool` result (see `episodes.py`). An
episode that ends at a limit has finish_reason `length` (steps, tokens, time) or `stop` (format
errors, giving up), and its content says why. Streaming sends one chunk per agent event (plan,
call, observation, ...) as it happens, in the extension field `umi_event`, then the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from multiagentllm.agent.loop import Agent, Event, Result
from multiagentllm.roles.registry import model_role
from multiagentllm.roles.render import call_text, plan_text
from multiagentllm.serve.config import AGENT_MODEL
from multiagentllm.serve.conversation import Conversation, parse_conversation
from multiagentllm.serve.episodes import (
    ClientToolCall, EpisodeTools, PausedEpisode, Recorded, ReplayLLM, call_id, episode_of,
    new_episode_id,
)
from multiagentllm.serve.errors import APIError, client_name
from multiagentllm.serve.protocol import ChatRequest
from multiagentllm.serve.responses import DONE, ChunkWriter, chat_completion, sse_error, tool_call_json, usage
from multiagentllm.serve.roles_api import check_prompt, render
from multiagentllm.serve.state import ServerState, as_api_error
from multiagentllm.serve.worker import QueuedLLM
from multiagentllm.tools.retrieval import retrieve

log = logging.getLogger("multiagentllm.serve")

_FINISH = {"solved": "stop", "given_up": "stop", "format_error": "stop", "max_steps": "length",
           "token_limit": "length", "timeout": "length", "stuck": "stop", "ungrounded": "stop",
           "needs_input": "stop"}


@dataclass
class EpisodePlan:
    """A validated request, ready to run: where the episode starts and what it replays."""

    id: str
    instruction: str
    offered: list[dict[str, Any]]
    client: dict[str, dict[str, Any]]
    registry: Any
    outputs: list[tuple[str, str]]
    calls: list[Recorded]
    max_steps: int
    resumed: PausedEpisode | None = None  # taken from the store; put back if the queue is full


@dataclass
class Finished:
    content: str | None
    finish_reason: str
    tool_calls: list[dict[str, Any]] | None
    umi: dict[str, Any]
    usage: dict[str, int]


def plan_episode(state: ServerState, req: ChatRequest) -> EpisodePlan:
    """Check everything that can be checked before the episode takes a place in the queue."""
    config = state.config
    conv = parse_conversation(req.messages, config)
    if len(conv.instruction) > config.agent.max_query_chars:
        raise APIError(413, f"the instruction is {len(conv.instruction)} characters; the limit is "
                            f"{config.agent.max_query_chars}", param="messages",
                       code="context_length_exceeded")
    if conv.pending is not None:
        raise APIError(400, f"model {AGENT_MODEL!r} runs the whole loop: end the conversation with "
                            "the user's request or a tool result, not an assistant message",
                       param="messages", code="invalid_value")
    max_steps = req.max_steps or config.agent.max_steps
    if max_steps > config.agent.max_steps:
        raise APIError(422, f"max_steps is {max_steps}; this server allows at most {config.agent.max_steps}",
                       param="max_steps", code="too_many_steps")
    if len(conv.calls) >= max_steps:
        raise APIError(422, f"the conversation already holds {len(conv.calls)} tool calls; the "
                            f"episode may take {max_steps} steps", param="messages",
                       code="too_many_steps")
    offered, client = state.offered_tools(req)
    _check_first_prompt(state, conv, offered)
    names = [s["name"] for s in offered]
    last = conv.calls[-1] if conv.calls else None
    paused = state.store.take(episode_of(last.call_id)) if last else None
    if paused and paused.pending_id == last.call_id and paused.instruction == conv.instruction \
            and paused.tool_names == names:
        answer = Recorded(paused.pending.name, paused.pending.arguments, last.observation,
                          ok=not last.observation.lstrip().startswith('{"error"'))
        return EpisodePlan(paused.id, conv.instruction, offered, client, paused.registry,
                           paused.outputs, [*paused.calls, answer], max_steps, resumed=paused)
    # Not (or no longer) known here: rebuild the turns from the messages.
    for past in conv.calls:
        if past.call.name not in names:
            raise APIError(422, f"the history calls {past.call.name!r}, which is not among the "
                                f"offered tools ({', '.join(names) or 'none'})",
                           param="messages", code="history_mismatch")
    plan_role, call_role = model_role("planner", state.single), model_role("caller", state.single)
    outputs: list[tuple[str, str]] = []
    for past in conv.calls:  # what the planner and the caller would have written
        outputs.append((plan_role, plan_text(past.rationale, "caller")))
        outputs.append((call_role, call_text(past.call)))
    calls = [Recorded(p.call.name, p.call.arguments, p.observation) for p in conv.calls]
    episode = (episode_of(last.call_id) if last else None) or new_episode_id()
    return EpisodePlan(episode, conv.instruction, offered, client, state.fresh_registry(),
                       outputs, calls, max_steps)


def _check_first_prompt(state: ServerState, conv: Conversation, offered: list[dict[str, Any]]) -> None:
    """413 before the episode takes a place in the queue when the planner's first prompt would be
    over the limit: rendered as the episode will render it, with the tools retrieval leaves of
    `offered` (the same `retrieve` call `Agent` makes at its start, keeping the tools the
    history used). Checking the instruction alone let 64 client tools of 200 parameters each
    through as a 747k-character prompt."""
    shown = retrieve(offered, conv.instruction, state.config.agent.max_tools, keep=[p.call.name for p in conv.calls])
    model = model_role("planner", state.single)
    check_prompt(render(model, "planner", conv, shown), "planner", state.config)


def run_episode(state: ServerState, plan: EpisodePlan, *, cancel: threading.Event | None = None,
                on_event=None) -> Finished:
    """Run (or resume) the episode in this thread; generation goes through the model worker."""
    config = state.config
    llm = QueuedLLM(state.worker, timeout=config.request_timeout, count_tokens=state.count_tokens)
    if cancel is not None:
        llm.cancelled = cancel
    replay = ReplayLLM(llm, plan.outputs)
    tools = EpisodeTools(plan.registry, plan.offered, plan.client, plan.calls)

    def emit(event: Event) -> None:  # replayed turns were shown in an earlier response
        if on_event is not None and replay.live and not tools.replaying:
            on_event(event)

    agent = Agent(replay, tools, replace(config.agent, max_steps=plan.max_steps), single_mode=state.single,
                  on_event=emit, count_tokens=state.count_tokens)
    try:
        # Tools the conversation already used stay offered (and the replayed prompts unchanged).
        result = agent.run(plan.instruction, episode_id=plan.id, keep_tools=[c.name for c in plan.calls])
    except ClientToolCall as pause:
        cid = call_id(plan.id, len(tools.log))
        state.store.put(PausedEpisode(plan.id, plan.instruction, [s["name"] for s in plan.offered],
                                      plan.registry, replay.log, tools.log, pause.call, cid))
        rationale = agent.history[-1].rationale if agent.history else ""
        if on_event is not None:
            on_event(Event("client_call", pause.call.name, {"id": cid, "arguments": pause.call.arguments}))
        return Finished(rationale or None, "tool_calls",
                        [tool_call_json(cid, pause.call.name, pause.call.arguments)],
                        _umi(agent, "awaiting_tool_results", f"waiting for the client to run {pause.call.name!r}"),
                        usage(llm.prompt_tokens, llm.completion_tokens))
    return Finished(_content(result), _FINISH.get(result.status, "stop"), None,
                    _umi(agent, result.status, result.message),
                    usage(llm.prompt_tokens, llm.completion_tokens))


def _content(result: Result) -> str:
    if result.status in ("solved", "needs_input") and result.answer:
        return result.answer  # needs_input: a question to the user
    if result.status == "ungrounded" and result.answer:
        return f"{result.answer}\n\n(Not backed by any tool result: {result.message})"
    if result.status == "given_up":
        return f"I could not complete this request with the available tools: {result.message}"
    return f"The agent stopped ({result.status}): {result.message}"


def _umi(agent: Agent, status: str, message: str) -> dict[str, Any]:
    traj = agent.trajectory()
    return {"episode": traj.id, "status": status, "message": message,
            "steps": [s.to_dict() for s in traj.steps],
            "rejected_calls": traj.meta.get("rejected_calls", []),
            "format_errors": traj.meta.get("format_errors", []),
            "tokens": traj.meta.get("tokens")}


async def chat_agent(state: ServerState, req: ChatRequest, request: Request) -> Any:
    # Schema checks, retrieval and rendering take a while for a large tool list: off the event
    # loop, so that /health and other requests keep being answered meanwhile.
    plan = await asyncio.to_thread(plan_episode, state, req)
    try:
        state.admit()
    except APIError:
        if plan.resumed is not None:  # a retry must still find the episode's world
            state.store.put(plan.resumed)
        raise
    loop = asyncio.get_running_loop()
    if req.stream:
        return _stream(state, plan, req, loop)
    cancel = threading.Event()
    episode = loop.run_in_executor(state.executor, _admitted, state, plan, cancel)
    left = asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait({episode, left}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
    if not episode.done():  # nobody will read the answer: stop at the next generation
        cancel.set()
        log.info("%s left; episode %s cancelled", client_name(request), plan.id)
    try:
        done = await episode
    except Exception as e:  # noqa: BLE001 - every failure becomes an OpenAI error
        raise as_api_error(e) from e
    return chat_completion(AGENT_MODEL, content=done.content, finish_reason=done.finish_reason,
                           tool_calls=done.tool_calls, usage_=done.usage, umi=done.umi)


async def _client_left(request: Request) -> None:
    """Returns when the client disconnects. The body has been read, so the server's next message
    on this request is the disconnect (or nothing, until the response is sent)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _admitted(state: ServerState, plan: EpisodePlan, cancel: threading.Event) -> Finished:
    """Run the episode and give its place in the queue back when it has really stopped (not when
    the request handler does: a handler can be cancelled while the episode thread runs on)."""
    try:
        return run_episode(state, plan, cancel=cancel)
    finally:
        state.admission.leave()


def _stream(state: ServerState, plan: EpisodePlan, req: ChatRequest,
            loop: asyncio.AbstractEventLoop) -> StreamingResponse:
    items: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()

    def push(kind: str, item: Any) -> None:
        loop.call_soon_threadsafe(items.put_nowait, (kind, item))

    def work() -> None:
        try:
            push("done", run_episode(state, plan, cancel=cancel,
                                     on_event=lambda ev: push("event", ev)))
        except BaseException as e:  # noqa: BLE001 - reported in the stream
            push("error", e)
        finally:
            state.admission.leave()  # only when the episode has really stopped

    loop.run_in_executor(state.executor, work)
    writer = ChunkWriter(AGENT_MODEL)
    include_usage = bool((req.stream_options or {}).get("include_usage"))

    async def events():
        try:
            yield writer.chunk({"role": "assistant", "content": ""})
            while True:
                kind, item = await items.get()
                if kind == "event":
                    yield writer.chunk({}, umi_event={"kind": item.kind, "text": item.text,
                                                      "data": json.loads(json.dumps(item.data, default=str))})
                    continue
                if kind == "done":
                    for chunk in writer.final(content=item.content, finish_reason=item.finish_reason,
                                              tool_calls=item.tool_calls, umi=item.umi):
                        yield chunk
                    if include_usage:
                        yield writer.usage_chunk(item.usage)
                else:
                    state.counters["errors"] += 1
                    yield sse_error(as_api_error(item))
                break
            yield DONE
        finally:
            cancel.set()  # the client left (or we are done): stop generating for it

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
