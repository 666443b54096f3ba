"""Prompt rendering shared by the training-data builders and the agent runtime.

The renderer is *prefix-stable*: the text rendered for steps 1..t-1 is a prefix of the text
rendered for steps 1..t.  That lets training put all of one role's turns of a trajectory into one
sequence with several supervised spans (`Rendered.spans`), which gives the same loss terms as one
row per step at a fraction of the tokens.  Every turn ends with a newline, so a prompt always ends
on a token boundary and the runtime sees exactly the tokens training saw.

Layout of one role's sequence (planner shown; the caller and the summarizer read the same history,
only the system prompt and the supervised spans differ)::

    {system prompt}

    Tools:
    - name: description. Args: city (string, required); unit ("c"|"f")

    <s> {instruction} </s>
    Rationale: ...
    Next: Caller
    Action: get_weather
    Action Input: {"city": "Paris"}
    Observation: {"temp_c": 11}
    Rationale: ...
    Next: Summarizer
    Answer:
    {answer}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from multiagentllm.types import Step, ToolCall

PROMPT_VERSION = "umi-prompt-v1"
OBSERVATION_CHARS = 768  # observations are truncated to this budget, in training and at run time
TOOL_DESC_CHARS = 160
PARAM_DESC_CHARS = 60
NEXT_LABELS = {"caller": "Caller", "summarizer": "Summarizer", "give_up": "Give up"}


@cache
def system_prompt(role: str) -> str:
    """The system prompt of `role` (`roles.registry` names the roles; each has a template)."""
    template = resources.files("multiagentllm.roles").joinpath(f"templates/{role}.txt")
    if not template.is_file():
        raise ValueError(f"unknown role {role!r}: there is no templates/{role}.txt")
    return template.read_text().strip()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _param_type(schema: dict[str, Any]) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"][:8])
    t = schema.get("type", "any")
    if isinstance(t, list):
        t = "|".join(map(str, t))
    if t == "array" and isinstance(schema.get("items"), dict):
        return f"array of {schema['items'].get('type', 'any')}"
    return str(t)


def render_tool(tool: dict[str, Any]) -> str:
    """One compact line per tool: name, clipped description, parameter list."""
    params = tool.get("parameters", {}) or {}
    required = set(params.get("required", []) or [])
    args = []
    for name, schema in (params.get("properties") or {}).items():
        schema = schema if isinstance(schema, dict) else {}
        bits = [_param_type(schema)]
        if name in required:
            bits.append("required")
        desc = _clip(str(schema.get("description") or ""), PARAM_DESC_CHARS)
        args.append(f"{name} ({', '.join(bits)})" + (f": {desc}" if desc else ""))
    line = f"- {tool['name']}"
    desc = _clip(tool.get("description") or "", TOOL_DESC_CHARS)
    if desc:
        line += f": {desc}"
    if args:
        line += (" " if desc.endswith(".") or not desc else ". ") + "Args: " + "; ".join(args)
    return line


def render_tools(tools: list[dict[str, Any]]) -> str:
    if not tools:
        return "Tools: (none)"
    return "Tools:\n" + "\n".join(render_tool(t) for t in tools)


def truncate_observation(observation: str, limit: int = OBSERVATION_CHARS) -> str:
    observation = observation.replace("\r", " ").replace("\n", " ").strip()
    if len(observation) <= limit:
        return observation
    return observation[:limit] + " …[truncated]"


def format_arguments(arguments: dict[str, Any]) -> str:
    """Canonical one-line JSON for tool arguments (no newlines, so a turn stays on its lines)."""
    return json.dumps(arguments, ensure_ascii=False)


# --- turn texts (each ends with a newline) -------------------------------------------------------

def header(role: str, tools: list[dict[str, Any]], instruction: str) -> str:
    return f"{system_prompt(role)}\n\n{render_tools(tools)}\n\n<s> {instruction.strip()} </s>\n"


def plan_text(rationale: str, next_: str) -> str:
    return f"Rationale: {rationale.strip()}\nNext: {NEXT_LABELS[next_]}"


def call_text(action: ToolCall) -> str:
    return f"Action: {action.name}\nAction Input: {format_arguments(action.arguments)}"


def observation_text(observation: str) -> str:
    return f"Observation: {truncate_observation(observation)}\n"


ANSWER_CUE = "Answer:\n"


@dataclass
class Rendered:
    """A rendered sequence: the text and the character spans a role is trained on."""

    text: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)

    def add(self, text: str, train: bool = False) -> None:
        if train:
            self.spans.append((len(self.text), len(self.text) + len(text)))
        self.text += text


def render_history(out: Rendered, steps: list[Step], train: set[str] = frozenset()) -> None:
    """Append the turns of `steps`; `train` names the turn kinds ("plan", "call") to supervise.

    A caller step whose observation is still missing renders up to its action (the runtime's
    state just after the caller ran and before the tool returned is never prompted)."""
    for step in steps:
        out.add(plan_text(step.rationale, step.next) + "\n", "plan" in train)
        if step.action is not None:
            out.add(call_text(step.action) + "\n", "call" in train)
            if step.observation is not None:
                out.add(observation_text(step.observation))
