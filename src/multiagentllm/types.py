"""The canonical trajectory and the small protocols every other module speaks.

A `Trajectory` is one episode of the alpha-UMi agent: the user's instruction, the tools offered
(OpenAI function schema), the planner's steps (rationale + decision, with the caller's action and
the tool's observation when the decision was `caller`), and the final answer.  Everything else in
the project (training rows, prompts, evaluation items) is derived from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

NEXT_VALUES = ("caller", "summarizer", "give_up")
OUTCOMES = ("solved", "given_up")
Next = Literal["caller", "summarizer", "give_up"]
Outcome = Literal["solved", "given_up"]


class SchemaError(ValueError):
    """A record that does not follow the canonical schema; the message names the field."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


@dataclass
class Step:
    rationale: str
    next: Next
    action: ToolCall | None = None
    observation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rationale": self.rationale, "next": self.next}
        if self.action is not None:
            out["action"] = self.action.to_dict()
        if self.observation is not None:
            out["observation"] = self.observation
        return out


@dataclass
class Trajectory:
    id: str
    instruction: str
    tools: list[dict[str, Any]]
    steps: list[Step]
    answer: str | None = None
    outcome: Outcome = "solved"
    source: str = "unknown"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.tools]

    @property
    def calls(self) -> list[ToolCall]:
        return [s.action for s in self.steps if s.action is not None]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "source": self.source,
            "instruction": self.instruction,
            "tools": self.tools,
            "steps": [s.to_dict() for s in self.steps],
            "answer": self.answer,
            "outcome": self.outcome,
        }
        if self.meta:
            out["meta"] = self.meta
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Any, *, check_complete: bool = True) -> "Trajectory":
        """Build and validate; raises `SchemaError` naming the offending field."""
        if not isinstance(d, dict):
            raise SchemaError(f"trajectory must be a JSON object, got {type(d).__name__}")
        for key in ("id", "instruction", "tools", "steps"):
            if key not in d:
                raise SchemaError(f"missing field '{key}'")
        tools = [normalize_tool(t, where=f"tools[{i}]") for i, t in enumerate(_list(d["tools"], "tools"))]
        steps = [_step_from_dict(s, i) for i, s in enumerate(_list(d["steps"], "steps"))]
        traj = cls(
            id=_str(d["id"], "id"),
            instruction=_str(d["instruction"], "instruction"),
            tools=tools,
            steps=steps,
            answer=d.get("answer"),
            outcome=d.get("outcome", "solved"),
            source=str(d.get("source", "unknown")),
            meta=dict(d.get("meta") or {}),
        )
        traj.validate(check_complete=check_complete)
        return traj

    def validate(self, *, check_complete: bool = True) -> None:
        """Check the invariants of a trajectory.

        `check_complete=False` accepts an episode still in progress (used by the runtime, which
        saves the trajectory after every step)."""
        if not self.instruction.strip():
            raise SchemaError("empty 'instruction'")
        names = self.tool_names
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SchemaError(f"duplicate tool names in 'tools': {dup}")
        for i, step in enumerate(self.steps):
            where = f"steps[{i}]"
            if step.next not in NEXT_VALUES:
                raise SchemaError(f"{where}.next is {step.next!r}, expected one of {NEXT_VALUES}")
            if step.next == "caller":
                if step.action is None:
                    raise SchemaError(f"{where}: next is 'caller' but there is no 'action'")
                if step.action.name not in names:
                    raise SchemaError(
                        f"{where}.action.name {step.action.name!r} is not in the trajectory's tools"
                    )
                if check_complete and step.observation is None:
                    raise SchemaError(f"{where}: a 'caller' step needs an 'observation'")
            elif step.action is not None:
                raise SchemaError(f"{where}: next is {step.next!r} but the step has an 'action'")
            if i < len(self.steps) - 1 and step.next != "caller":
                raise SchemaError(f"{where}: next is {step.next!r} but more steps follow")
        if self.outcome not in OUTCOMES:
            raise SchemaError(f"outcome is {self.outcome!r}, expected one of {OUTCOMES}")
        if self.answer is not None and not isinstance(self.answer, str):
            raise SchemaError("'answer' must be a string or null")
        if not check_complete:
            return
        if not self.steps:
            raise SchemaError("'steps' is empty: a trajectory ends with a summarizer or give_up step")
        last = self.steps[-1].next
        if last == "caller":
            raise SchemaError("the last step must be 'summarizer' or 'give_up', not 'caller'")
        if last == "summarizer":
            if self.outcome != "solved":
                raise SchemaError("last step is 'summarizer' but outcome is not 'solved'")
            if not (self.answer or "").strip():
                raise SchemaError("outcome 'solved' needs a non-empty 'answer'")
        if last == "give_up" and self.outcome != "given_up":
            raise SchemaError("last step is 'give_up' but outcome is not 'given_up'")


def _list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise SchemaError(f"'{name}' must be a list, got {type(value).__name__}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"'{name}' must be a string, got {type(value).__name__}")
    return value


def _step_from_dict(d: Any, i: int) -> Step:
    where = f"steps[{i}]"
    if not isinstance(d, dict):
        raise SchemaError(f"{where} must be an object")
    if "next" not in d:
        raise SchemaError(f"{where}: missing field 'next'")
    action = None
    if d.get("action") is not None:
        a = d["action"]
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise SchemaError(f"{where}.action must be an object with a string 'name'")
        args = a.get("arguments", {})
        if isinstance(args, str):  # OpenAI style: arguments as a JSON string
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as e:
                raise SchemaError(f"{where}.action.arguments is not valid JSON: {e}") from None
        if not isinstance(args, dict):
            raise SchemaError(f"{where}.action.arguments must be a JSON object")
        action = ToolCall(a["name"], args)
    obs = d.get("observation")
    if obs is not None and not isinstance(obs, str):
        obs = json.dumps(obs, ensure_ascii=False)
    rationale = d.get("rationale", "")
    if not isinstance(rationale, str):
        raise SchemaError(f"{where}.rationale must be a string")
    return Step(rationale=rationale, next=d["next"], action=action, observation=obs)


def normalize_tool(tool: Any, *, where: str = "tool") -> dict[str, Any]:
    """Accept `{"name", "description", "parameters"}` or OpenAI's `{"type": "function",
    "function": {...}}` and return the plain function schema."""
    if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        tool = tool["function"]
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
        raise SchemaError(f"{where} must be an object with a non-empty string 'name'")
    params = tool.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, dict):
        raise SchemaError(f"{where}.parameters must be a JSON-schema object")
    props = params.get("properties", {})
    if not isinstance(props, dict):
        raise SchemaError(f"{where}.parameters.properties must be an object")
    required = params.get("required", [])
    if not isinstance(required, list):
        raise SchemaError(f"{where}.parameters.required must be a list")
    out = {
        "name": tool["name"],
        "description": str(tool.get("description") or ""),
        "parameters": {"type": "object", "properties": props, "required": required,
                       **{k: params[k] for k in ("$defs", "definitions") if k in params}},
    }
    return out


@runtime_checkable
class LLM(Protocol):
    """A text-completion model. The runtime and the evaluators hand it prompts rendered by a role
    module; `role` ("planner", "caller", "summarizer" or "single") selects the role's weights
    (e.g. its LoRA adapter). Generation is greedy; it ends at EOS, at any of `stop` (which is cut
    off the returned text) or after `max_new_tokens`. Returns one completion per prompt."""

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str]) -> list[str]: ...
