"""ToolTalk conversations (`data/easy/*.json`, `data/tooltalk/*.json`), one conversation per file.

A conversation alternates `user` and `assistant` turns; an assistant turn may carry `apis`, the
calls it made in order, each `{"request": {"api_name", "parameters"}, "response", "exception"}`.
Every assistant turn becomes one trajectory: the calls are caller steps (observation = the
response as JSON, or `Error: <exception>` when the call raised), then a summarizer step whose
answer is the assistant's reply.  A reply with no calls (often a question back to the user) is a
trajectory with the summarizer step alone.

Later turns depend on earlier ones (an event id created in turn 1 is modified in turn 3), so the
instruction of a turn carries what the assistant knew then: the conversation's metadata (user,
session token, location, time, as ToolTalk gives its models), the earlier turns and the results
of the earlier calls, then the current request.  Consecutive user turns are one request; user
turns after the last reply are left out (nothing answers them).

ToolTalk ships no API documentation in its data folder (the docs live in its Python code), so
the tool schemas are derived from the calls of the conversation: each API's parameters are the
names used in its calls, with the JSON type of the values seen, none marked required (the calls
cannot tell which are optional).  ToolTalk has no thoughts either: rationales are derived from
the call (`toolbench.derived_rationale`), counted in `meta["derived_rationales"]`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.jsonfiles import read_json
from multiagentllm.data.loaders.chains import derived_rationale
from multiagentllm.io import DataError, SkipReport, skip_or_raise
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory

SOURCE = "tooltalk"
DIRECT_RATIONALE = "No tool call is needed for this turn; reply to the user."
ANSWER_RATIONALE = "The calls have done what the user asked; reply to the user."
_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
          (dict, "object"))


def _json_type(value: Any) -> str | None:
    return next((name for cls, name in _TYPES if isinstance(value, cls)), None)


def derive_tools(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """OpenAI schemas for the APIs of `calls`, in order of first use (see the module docstring)."""
    props: dict[str, dict[str, dict[str, Any]]] = {}
    for call in calls:
        api = props.setdefault(call.name, {})
        for pname, value in call.arguments.items():
            seen = api.setdefault(pname, {"types": set()})
            if value is not None:
                seen["types"].add(_json_type(value))
    tools = []
    for name, params in props.items():
        properties = {}
        for pname, seen in params.items():
            types = sorted(t for t in seen["types"] if t)
            if types == ["integer", "number"]:
                types = ["number"]
            properties[pname] = {"type": types[0]} if len(types) == 1 else {}
        tools.append({"name": name, "description": "",  # no documentation to take it from
                      "parameters": {"type": "object", "properties": properties, "required": []}})
    return tools


def _calls(turn: dict[str, Any], at: str) -> list[tuple[ToolCall, str]]:
    apis = turn.get("apis") or []
    if not isinstance(apis, list):
        raise ValueError(f"{at}.apis must be a list")
    out = []
    for k, api in enumerate(apis):
        where = f"{at}.apis[{k}]"
        request = api.get("request") if isinstance(api, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("api_name"), str):
            raise ValueError(f"{where}: missing request.api_name")
        params = request.get("parameters") or {}
        if not isinstance(params, dict):
            raise ValueError(f"{where}.request.parameters must be an object")
        if api.get("exception"):
            observation = f"Error: {api['exception']}"
        elif "response" in api:
            observation = json.dumps(api["response"], ensure_ascii=False)
        else:
            raise ValueError(f"{where}: neither a response nor an exception")
        out.append((ToolCall(request["api_name"], params), observation))
    return out


def _context(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    parts = [f"{label} {meta[key]}" for key, label in (("username", "user"), ("session_token", "session token"),
                                                         ("location", "location"), ("timestamp", "current time"))
             if meta.get(key)]
    return f"Context: {', '.join(parts)}." if parts else ""


def conversation_trajectories(data: Any, stem: str) -> list[Trajectory]:
    """One trajectory per assistant turn of a ToolTalk conversation."""
    if not isinstance(data, dict):
        raise ValueError("a ToolTalk file holds one conversation object")
    turns = data["conversation"]
    if not isinstance(turns, list):
        raise ValueError("'conversation' must be a list of turns")
    parsed: list[tuple[str, str, list[tuple[ToolCall, str]]]] = []
    for i, turn in enumerate(turns):
        at = f"conversation[{i}]"
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise ValueError(f"{at}: role must be 'user' or 'assistant'")
        if not isinstance(turn.get("text"), str):
            raise ValueError(f"{at}: missing 'text'")
        if turn["role"] == "user" and turn.get("apis"):
            raise ValueError(f"{at}: a user turn with API calls")
        parsed.append((turn["role"], turn["text"].strip(), _calls(turn, at) if turn["role"] == "assistant" else []))
    tools = derive_tools([call for _, _, calls in parsed for call, _ in calls])
    by_name = {t["name"]: t for t in tools}
    name = str(data.get("name") or stem)
    context, history, request = _context(data), [], []
    out: list[Trajectory] = []
    for i, (role, text, calls) in enumerate(parsed):
        if role == "user":
            request.append(text)
            continue
        if not request:
            raise ValueError(f"conversation[{i}]: an assistant turn with no user request before it")
        if not text:
            raise ValueError(f"conversation[{i}]: an assistant turn with empty text")
        steps = [Step(derived_rationale(call, by_name[call.name]), "caller", call, obs) for call, obs in calls]
        steps.append(Step(ANSWER_RATIONALE if calls else DIRECT_RATIONALE, "summarizer"))
        user_text = "\n".join(request)
        instruction = _instruction(context, history, user_text)
        traj = Trajectory(id=f"{SOURCE}-{name}-{i}", instruction=instruction, tools=tools, steps=steps,
                          answer=text, outcome="solved", source=SOURCE,
                          meta={"conversation_id": data.get("conversation_id"), "turn": i,
                                "derived_rationales": len(steps)})
        try:
            traj.validate()
        except SchemaError as e:
            raise ValueError(f"conversation[{i}]: {e}") from None
        out.append(traj)
        history.append(f"User: {user_text}")
        history.extend(f"Tool call: {call.name} {json.dumps(call.arguments, ensure_ascii=False)} -> {obs}"
                       for call, obs in calls)
        history.append(f"Assistant: {text}")
        request = []
    return out


def _instruction(context: str, history: list[str], request: str) -> str:
    if not history:
        return f"{context}\n{request}".strip()
    earlier = "\n".join(history)
    return f"{context}\nConversation so far:\n{earlier}\nUser: {request}".strip()


def load_tooltalk(path: str | os.PathLike, *, skip_bad: bool = False,
                  report: SkipReport | None = None) -> Iterator[Trajectory]:
    """The trajectories of one ToolTalk conversation file (see the module docstring)."""
    path = Path(path)
    try:
        try:
            records = conversation_trajectories(read_json(path), path.stem)
        except KeyError as e:
            raise DataError(path, None, f"missing field {e.args[0]!r}") from None
        except (ValueError, TypeError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(path, None, str(e)) from None
    except DataError as err:
        skip_or_raise(err, skip_bad, report)
        return
    yield from records
