"""Tool-call dialogues in the two chat formats users bring: LLaMA-Factory's ShareGPT rows and
OpenAI `messages` + `tools` rows.

ShareGPT (LLaMA-Factory's `glaive_toolcall_en_demo.json` and its `formatting: sharegpt` datasets)::

    {"conversations": [{"from": "human", "value": "..."},
                       {"from": "function_call", "value": "{\\"name\\": ..., \\"arguments\\": {...}}"},
                       {"from": "observation", "value": "..."},
                       {"from": "gpt", "value": "..."}],
     "tools": "[{\\"name\\": ..., \\"description\\": ..., \\"parameters\\": {...}}]",   # JSON text or a list
     "system": "..."}                                                               # optional

`function_call` may hold one call or a list of calls (parallel), each with `arguments` as an object
or as JSON text; an observation answers the calls before it in order (one observation holding a
JSON list answers that many parallel calls). `role`/`content` keys and the OpenAI role names
(`user`, `assistant`, `tool`) are read as well.

OpenAI chat (fine-tuning rows, or logged requests)::

    {"messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": null | "a thought",
                   "tool_calls": [{"id": "c1", "type": "function",
                                   "function": {"name": "...", "arguments": "{...}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "..."},
                  {"role": "assistant", "content": "the reply"}],
     "tools": [{"type": "function", "function": {...}}]}

The legacy `function_call` / `role: function` pair is read too. Tool results are matched to their
call by `tool_call_id`, or in order when a result carries no id.

Both become the same thing: every assistant *reply* (a message with text and no call) ends one
trajectory, as ToolTalk's turns do (`tooltalk.py`): the calls made since the user's request are
caller steps with their observations, then a summarizer step whose answer is the reply. The
instruction carries what the assistant knew then: the system text (as context), the earlier turns
with their calls and results, then the request. A reply with no calls is a trajectory with the
summarizer step alone (a question back to the user, or a refusal when no tool fits). User turns
after the last reply are left out: nothing answers them.

Rationales: an OpenAI assistant message with both text and tool calls gives its text as the
rationale of its first call; every other call gets a derived one (`chains.derived_rationale`),
counted in `meta["derived_rationales"]`.

A bad row (unknown role, a call to a tool the row does not offer, a call left without a result,
arguments that are not a JSON object, a tool definition that is not a function schema) is a
`DataError` naming file, line and the message index; `--skip-bad` counts and skips it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.chains import derived_rationale
from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.io import SkipReport
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory, normalize_tool

DIRECT_RATIONALE = "No tool call is needed for this turn; reply to the user."
ANSWER_RATIONALE = "The calls have done what the user asked; reply to the user."

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "function_call": "call", "observation": "observation", "tool": "observation",
                   "system": "system"}


@dataclass
class _Call:
    call: ToolCall
    rationale: str | None = None
    call_id: str | None = None
    observation: str | None = None


@dataclass
class _Reply:
    """What happened between a user's request and the assistant's reply to it."""

    request: list[str] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)


class _Dialogue:
    """Collects the turns of one conversation and cuts it into trajectories."""

    def __init__(self, tools: list[dict[str, Any]], system: str, source: str, name: str):
        self.tools, self.source, self.name = tools, source, name
        self.by_name = {t["name"]: t for t in tools}
        self.context = f"Context: {system.strip()}" if system.strip() else ""
        self.history: list[str] = []
        self.open = _Reply()
        self.out: list[Trajectory] = []

    def user(self, text: str, at: str) -> None:
        if self.open.calls:
            raise ValueError(f"{at}: a user turn while calls wait for the assistant's reply")
        self.open.request.append(text.strip())

    def call(self, call: ToolCall, at: str, *, rationale: str | None = None, call_id: str | None = None) -> None:
        if not self.open.request:
            raise ValueError(f"{at}: a tool call with no user request before it")
        if call.name not in self.by_name:
            raise ValueError(f"{at}: call to {call.name!r}, which the row's tools do not define "
                             f"(tools: {sorted(self.by_name) or 'none'})")
        self.open.calls.append(_Call(call, rationale, call_id))

    def result(self, text: str, at: str, call_id: str | None = None) -> None:
        waiting = [c for c in self.open.calls if c.observation is None]
        if not waiting:
            raise ValueError(f"{at}: a tool result with no call waiting for it")
        if call_id is not None and any(c.call_id == call_id for c in waiting):
            target = next(c for c in waiting if c.call_id == call_id)
        elif call_id is not None and any(c.call_id is not None for c in waiting):
            raise ValueError(f"{at}: tool_call_id {call_id!r} names no call waiting for a result")
        else:
            target = waiting[0]
        if len(waiting) > 1 and call_id is None:
            parts = _as_list(text)
            if parts is not None and len(parts) == len(waiting):  # one observation for parallel calls
                for c, part in zip(waiting, parts):
                    c.observation = part if isinstance(part, str) else json.dumps(part, ensure_ascii=False)
                return
        target.observation = text

    def reply(self, text: str, at: str, index: int) -> None:
        text = text.strip()
        if not text:
            raise ValueError(f"{at}: an assistant reply with empty text")
        if not self.open.request:
            raise ValueError(f"{at}: an assistant reply with no user request before it")
        missing = [c.call.name for c in self.open.calls if c.observation is None]
        if missing:
            raise ValueError(f"{at}: the reply comes before the result of {missing}")
        steps = [Step(c.rationale or derived_rationale(c.call, self.by_name[c.call.name]), "caller",
                      c.call, c.observation) for c in self.open.calls]
        steps.append(Step(ANSWER_RATIONALE if steps else DIRECT_RATIONALE, "summarizer"))
        request = "\n".join(self.open.request)
        traj = Trajectory(id=f"{self.source}-{self.name}-{index}", instruction=self._instruction(request),
                          tools=self.tools, steps=steps, answer=text, outcome="solved", source=self.source,
                          meta={"turn": index, "derived_rationales": sum(c.rationale is None for c in self.open.calls) + 1})
        try:
            traj.validate()
        except SchemaError as e:
            raise ValueError(f"{at}: {e}") from None
        self.out.append(traj)
        self.history.append(f"User: {request}")
        self.history.extend(f"Tool call: {c.call.name} {json.dumps(c.call.arguments, ensure_ascii=False)} -> "
                            f"{c.observation}" for c in self.open.calls)
        self.history.append(f"Assistant: {text}")
        self.open = _Reply()

    def _instruction(self, request: str) -> str:
        if not self.history:
            return f"{self.context}\n{request}".strip()
        earlier = "\n".join(self.history)
        return f"{self.context}\nConversation so far:\n{earlier}\nUser: {request}".strip()


def _as_list(text: str) -> list[Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, list) else None


def _json_text(raw: Any, at: str, what: str) -> Any:
    """`raw`, parsed when it is JSON text (sources write arguments and tool lists both ways)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{at}: {what + ' ' if what else ''}not valid JSON ({e.msg} at char {e.pos})") from None


def _arguments(raw: Any, at: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    raw = _json_text(raw, at, "arguments are")
    if not isinstance(raw, dict):
        raise ValueError(f"{at}: arguments must be a JSON object, got {type(raw).__name__}")
    return raw


def _tools(raw: Any, at: str = "tools") -> list[dict[str, Any]]:
    if raw is None or raw == "":
        return []
    raw = _json_text(raw, at, "")
    if not isinstance(raw, list):
        raise ValueError(f"{at} must be a list of function definitions")
    tools = []
    for k, tool in enumerate(raw):
        try:
            tools.append(normalize_tool(tool, where=f"{at}[{k}]"))
        except SchemaError as e:
            raise ValueError(str(e)) from None
    return tools


def _text(value: Any, at: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts
        parts = [p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) == len(value):
            return "".join(parts)
    raise ValueError(f"{at}: content must be text")


# ShareGPT -------------------------------------------------------------------------------------

def sharegpt_trajectories(row: Any, index: int, source: str = "sharegpt") -> list[Trajectory]:
    """The trajectories of one ShareGPT row (see the module docstring)."""
    if not isinstance(row, dict):
        raise ValueError("a ShareGPT row must be an object")
    turns = row["conversations"] if "conversations" in row else row["messages"]
    if not isinstance(turns, list):
        raise ValueError("'conversations' must be a list of turns")
    system = _text(row.get("system"), "system")
    dialogue = _Dialogue(_tools(row.get("tools")), system, source, str(row.get("id", index)))
    for i, turn in enumerate(turns):
        at = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise ValueError(f"{at} must be an object")
        tag = turn.get("from", turn.get("role"))
        role = _SHAREGPT_ROLES.get(tag) if isinstance(tag, str) else None
        if role is None:
            raise ValueError(f"{at}: unknown role {tag!r}; expected one of {sorted(_SHAREGPT_ROLES)}")
        value = _text(turn.get("value", turn.get("content")), at)
        if role == "system":
            dialogue.context = f"Context: {value.strip()}" if value.strip() else dialogue.context
        elif role == "user":
            dialogue.user(value, at)
        elif role == "assistant":
            dialogue.reply(value, at, i)
        elif role == "observation":
            dialogue.result(value, at)
        else:
            for call in _sharegpt_calls(value, at):
                dialogue.call(call, at)
    return dialogue.out


def _sharegpt_calls(value: str, at: str) -> list[ToolCall]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"{at}: function_call is not valid JSON ({e.msg} at char {e.pos})") from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    if not calls:
        raise ValueError(f"{at}: function_call holds no call")
    out = []
    for k, c in enumerate(calls):
        where = f"{at}[{k}]" if isinstance(parsed, list) else at
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"]:
            raise ValueError(f"{where}: a call needs a string 'name'")
        out.append(ToolCall(c["name"], _arguments(c.get("arguments"), where)))
    return out


# OpenAI chat ----------------------------------------------------------------------------------

def openai_trajectories(row: Any, index: int, source: str = "openai_chat") -> list[Trajectory]:
    """The trajectories of one OpenAI `messages` + `tools` row (see the module docstring)."""
    if not isinstance(row, dict):
        raise ValueError("an OpenAI chat row must be an object")
    messages = row["messages"]
    if not isinstance(messages, list):
        raise ValueError("'messages' must be a list")
    tools = _tools(row.get("tools"))
    if not tools and row.get("functions"):
        tools = _tools(row["functions"], "functions")
    dialogue = _Dialogue(tools, "", source, str(row.get("id", index)))
    for i, msg in enumerate(messages):
        at = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise ValueError(f"{at} must be an object")
        role = msg.get("role")
        content = _text(msg.get("content"), at)
        if role in ("system", "developer"):
            dialogue.context = f"Context: {content.strip()}" if content.strip() else dialogue.context
        elif role == "user":
            dialogue.user(content, at)
        elif role == "assistant":
            calls = _openai_calls(msg, at)
            if not calls:
                dialogue.reply(content, at, i)
            for k, (call, call_id) in enumerate(calls):
                dialogue.call(call, at, rationale=(content.strip() or None) if k == 0 else None, call_id=call_id)
        elif role in ("tool", "function"):
            call_id = msg.get("tool_call_id")
            dialogue.result(content, at, call_id if isinstance(call_id, str) else None)
        else:
            raise ValueError(f"{at}: unknown role {role!r}; expected system, developer, user, assistant, "
                             "tool or function")
    return dialogue.out


def _openai_calls(msg: dict[str, Any], at: str) -> list[tuple[ToolCall, str | None]]:
    raw = msg.get("tool_calls") or []
    if msg.get("function_call"):
        raw = [{"function": msg["function_call"]}]
    if not isinstance(raw, list):
        raise ValueError(f"{at}.tool_calls must be a list")
    out = []
    for k, tc in enumerate(raw):
        where = f"{at}.tool_calls[{k}]"
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValueError(f"{where}: needs function.name")
        call_id = tc.get("id")
        out.append((ToolCall(fn["name"], _arguments(fn.get("arguments"), f"{where}.function.arguments")),
                    call_id if isinstance(call_id, str) else None))
    return out


# loaders --------------------------------------------------------------------------------------

def load_sharegpt(path: str | os.PathLike, *, skip_bad: bool = False,
                  report: SkipReport | None = None, source: str | None = None) -> Iterator[Trajectory]:
    """Trajectories from a ShareGPT file (a JSON array or JSONL of rows)."""
    name = source or _source_name(path, "sharegpt")
    return convert_each(Path(path), lambda row, i: sharegpt_trajectories(row, i, name),
                        skip_bad=skip_bad, report=report)


def load_openai(path: str | os.PathLike, *, skip_bad: bool = False,
                report: SkipReport | None = None, source: str | None = None) -> Iterator[Trajectory]:
    """Trajectories from an OpenAI chat file (a JSON array or JSONL of `messages` rows)."""
    return convert_each(Path(path), lambda row, i: openai_trajectories(row, i, source or "openai_chat"),
                        skip_bad=skip_bad, report=report)


def _source_name(path: str | os.PathLike, default: str) -> str:
    """glaive's file is named as its own source; any other ShareGPT file is `sharegpt`."""
    return "glaive" if Path(path).name.startswith("glaive_toolcall") else default
