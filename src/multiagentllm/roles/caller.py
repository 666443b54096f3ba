"""Caller: turns the planner's latest rationale into exactly one tool call."""

from __future__ import annotations

import json
import re
from typing import Any

from multiagentllm.roles import FormatError
from multiagentllm.roles.render import Rendered, call_text, header, plan_text, render_history
from multiagentllm.types import Step, ToolCall, Trajectory

ROLE = "caller"
# Generation stops at EOS or at the first of these (text a role must never write). "Action Output:"
# is not in the training format, but a small model keeps going with it (ReAct habits from
# pre-training) on unfamiliar tools; `parse` reads only the first call, so stopping there changes
# no parsed call and saves the tokens.
STOP = ["\nObservation:", "\nAction Output:", "\nRationale:", "\nNext:", "\n<s>"]
MAX_NEW_TOKENS = 128
_ACTION = re.compile(r"Action\s*:\s*(?P<name>[^\n]*?)\s*\n\s*Action\s+Input\s*:\s*(?P<args>.*)", re.S | re.I)


def prompt(instruction: str, tools: list[dict[str, Any]], steps: list[Step], rationale: str = "",
           role: str = ROLE) -> str:
    """Prompt for the call that carries out `rationale` after the finished `steps`."""
    out = Rendered()
    out.add(header(role, tools, instruction))
    render_history(out, steps)
    out.add(plan_text(rationale, "caller") + "\n")
    return out.text


def target(action: ToolCall) -> str:
    return call_text(action)


def parse(text: str) -> ToolCall:
    """Parse `Action: name\\nAction Input: {json}`; raise FormatError saying what is wrong."""
    m = _ACTION.search(text)
    if not m:
        raise FormatError("caller output has no 'Action: <tool>' line followed by 'Action Input: <JSON>'")
    name = m.group("name").strip().strip("`\"'")
    if not name:
        raise FormatError("caller output names no tool after 'Action:'")
    raw = m.group("args").strip()
    if not raw:
        return ToolCall(name, {})
    try:
        args, _ = json.JSONDecoder().raw_decode(raw)
    except json.JSONDecodeError as e:
        raise FormatError(f"Action Input for {name!r} is not valid JSON: {e.msg} at char {e.pos}") from None
    if not isinstance(args, dict):
        raise FormatError(f"Action Input for {name!r} must be a JSON object, got {type(args).__name__}")
    return ToolCall(name, args)


def sequence(traj: Trajectory) -> Rendered:
    out = Rendered()
    out.add(header(ROLE, traj.tools, traj.instruction))
    render_history(out, traj.steps, train={"call"})
    return out
