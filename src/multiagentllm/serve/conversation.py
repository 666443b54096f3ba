"""From OpenAI chat messages to the agent's view of an episode, and back.

A conversation maps onto one alpha-UMi episode like this (the same for the agent model and the
role models)::

    system / developer   ignored: each role brings the system prompt it was trained with
    user                 the instruction (the LAST user message; earlier turns are ignored)
    assistant            content = the planner's rationale, tool_calls = the caller's call(s)
    tool                 the observation of the call named by `tool_call_id`
    assistant (last, no tool_calls, optional)
                         the planner's latest output ("Rationale: ...\\nNext: Caller" or just the
                         rationale), which a caller or summarizer turn carries out

Tool definitions in the request are checked here, with the same check the tool registry runs
at registration (`tools/schema_check.py`): a malformed one is a 422 naming its index, the tool
and the JSON path of the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.roles import FormatError, planner
from multiagentllm.serve.config import ServeConfig
from multiagentllm.serve.errors import APIError
from multiagentllm.serve.protocol import ChatMessage, check_json
from multiagentllm.tools.schema_check import ToolSchemaError, check_tool_schema
from multiagentllm.types import SchemaError, ToolCall, normalize_tool

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class PastCall:
    """One tool call of the conversation's history and its result."""

    rationale: str
    call: ToolCall
    call_id: str
    observation: str


@dataclass
class Conversation:
    instruction: str
    calls: list[PastCall] = field(default_factory=list)
    pending: str | None = None  # the planner's last output, when the conversation ends with it
    pending_next: str | None = None


def parse_rationale(text: str) -> tuple[str, str | None]:
    """(rationale, next) from a planner's text; a bare rationale has no decision."""
    try:
        return planner.parse(text)
    except FormatError:
        return text.strip(), None


def parse_conversation(messages: list[ChatMessage], config: ServeConfig) -> Conversation:
    """Read the episode out of `messages`; 400 when the turns do not fit together."""
    if len(messages) > config.max_messages:
        raise APIError(413, f"{len(messages)} messages; the limit is {config.max_messages}",
                       param="messages", code="context_length_exceeded")
    total = sum(len(m.text) for m in messages)
    if total > config.max_input_chars:
        raise APIError(413, f"the messages hold {total} characters; the limit is "
                            f"{config.max_input_chars}", param="messages",
                       code="context_length_exceeded")
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise APIError(400, "the conversation has no user message (the instruction)",
                       param="messages", code="invalid_value")
    start = users[-1]
    instruction = messages[start].text.strip()
    if not instruction:
        raise APIError(400, f"messages[{start}]: the user message (the instruction) is empty",
                       param=f"messages[{start}].content", code="invalid_value")
    conv = Conversation(instruction)
    open_calls: dict[str, PastCall] = {}
    tail = messages[start + 1:]
    for offset, msg in enumerate(tail):
        i = start + 1 + offset
        where = f"messages[{i}]"
        if msg.role in ("system", "developer"):
            continue
        if msg.role == "assistant" and msg.tool_calls:
            _expect_answered(open_calls, where)
            rationale = parse_rationale(msg.text)[0]
            for j, tc in enumerate(msg.tool_calls):
                call = ToolCall(tc.function.name, _arguments(tc.function.arguments,
                                                             f"{where}.tool_calls[{j}]", config))
                past = PastCall(rationale if j == 0 else "", call, tc.id, "")
                if tc.id in open_calls or any(c.call_id == tc.id for c in conv.calls):
                    raise APIError(400, f"{where}.tool_calls[{j}]: duplicate id {tc.id!r}",
                                   param=f"{where}.tool_calls", code="invalid_value")
                open_calls[tc.id] = past
                conv.calls.append(past)
        elif msg.role == "tool":
            if msg.tool_call_id not in open_calls:
                raise APIError(400, f"{where}: tool message for {msg.tool_call_id!r}, which no "
                                    "earlier assistant message called (or it was answered already)",
                               param=f"{where}.tool_call_id", code="invalid_value")
            open_calls.pop(msg.tool_call_id).observation = msg.text
        elif msg.role == "assistant":
            if offset != len(tail) - 1:
                raise APIError(400, f"{where}: an assistant message without tool_calls may only "
                                    "be the last message (the planner's latest output)",
                               param=where, code="invalid_value")
            _expect_answered(open_calls, where)
            conv.pending, conv.pending_next = parse_rationale(msg.text)
        else:
            raise APIError(400, f"{where}: unexpected {msg.role!r} message", param=where)
    _expect_answered(open_calls, f"messages[{len(messages)}]")
    return conv


def _expect_answered(open_calls: dict[str, PastCall], where: str) -> None:
    if open_calls:
        ids = ", ".join(map(repr, open_calls))
        raise APIError(400, f"{where}: tool call(s) {ids} have no tool message with their result",
                       param="messages", code="invalid_value")


def _arguments(text: str, where: str, config: ServeConfig) -> dict[str, Any]:
    """The arguments string of a past call as an object, held to the same checks as a body."""
    where = f"{where}.function.arguments"
    try:
        args = json.loads(text) if text.strip() else {}
    except (json.JSONDecodeError, RecursionError) as e:
        raise APIError(400, f"{where} is not valid JSON: {getattr(e, 'msg', e)}",
                       param=where, code="invalid_value") from None
    if not isinstance(args, dict):
        raise APIError(400, f"{where} must be a JSON object", param=where, code="invalid_value")
    check_json(args, config, where)
    return args


def check_tools(tools: list[Any], config: ServeConfig) -> list[dict[str, Any]]:
    """The request's OpenAI tool definitions as plain function schemas; 422 for a malformed one."""
    if len(tools) > config.max_tools:
        raise APIError(422, f"{len(tools)} tools; the limit is {config.max_tools}", param="tools",
                       code="too_many_tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" \
                or not isinstance(tool.get("function"), dict):
            raise _bad_tool(where, 'must be {"type": "function", "function": {...}}')
        fn = tool["function"]
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _bad_tool(f"{where}.function.name", "must be 1-64 letters, digits, '_', '.' or '-'")
        if fn.get("description") is not None and not isinstance(fn["description"], str):
            raise _bad_tool(f"{where}.function.description", "must be a string")
        try:
            check_tool_schema(fn, where=where)
        except ToolSchemaError as e:  # the message holds the exact path inside the parameters
            raise APIError(422, str(e), param=f"{where}.function.parameters",
                           code="invalid_tool_schema") from None
        try:
            schema = normalize_tool(tool, where=where)
        except SchemaError as e:
            raise _bad_tool(where, str(e).removeprefix(where).strip())
        if any(s["name"] == name for s in out):
            raise _bad_tool(f"{where}.function.name", f"duplicates the name {name!r}")
        out.append(schema)
    return out


def _bad_tool(param: str, reason: str) -> APIError:
    return APIError(422, f"{param} {reason}", param=param, code="invalid_tool_schema")
