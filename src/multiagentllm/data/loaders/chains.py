"""Chat-style tool-use chains (OpenAI messages with `function_call`) -> planner steps.

ToolBench's DFSDT chains, ToolEval's CoT answers and alpha-UMi's stage-1 `chains` are all chains of
`system` / `user` / `assistant` (a thought in `content`, the call in `function_call`) / `function`
(the result) messages ending in a `Finish` call.  `episode_from_messages` reads one into steps;
the loaders wrap the episode into a `Trajectory` with `trajectory`.

Two choices every loader here shares:

* DFSDT's restart prompts ("This is not the first time you try this task...") are extra user
  messages our trajectory has no place for; they are dropped and counted
  (`meta["restart_prompts"]`), since the thoughts after them may mention attempts from pruned
  branches that the trajectory does not show;
* a call or a decision without a thought gets a short rationale derived from what it does
  (`derived_rationale`), counted in `meta["derived_rationales"]`: the planner must learn a
  rationale for every step, and an honest "Call X: <what X does>." beats an empty one;
* a call to a tool that is not in the list (ChatGPT does hallucinate them: ToolBench's own
  example `G3_answer/21_ChatGPT_DFS_woFilter_w2.json` calls `dota_2_steam_web`) is a rejected call,
  as the runtime records one: kept out of `steps`, listed in `meta["rejected_calls"]` with its
  index, rationale, action, the observation the source recorded, and the error.  The episode stays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.data.loaders.stabletoolbench import compact_description
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory, normalize_tool

FINISH = "Finish"
RESTART_PROMPT = "This is not the first time you try this task"


def derived_rationale(call: ToolCall, tool: dict[str, Any] | None) -> str:
    """A short, honest rationale for a call the source gave no thought for: what is called and
    what the tool does (its description's first sentence), or which arguments it gets."""
    what = ""
    if tool and tool.get("description"):
        first_line = next((ln for ln in tool["description"].splitlines() if ln.strip()), "")
        what = re.split(r"(?<=[.!?])\s", " ".join(first_line.split()), maxsplit=1)[0].rstrip(".")
        what = what if len(what) <= 120 else what[:119].rstrip() + "…"
    if what:
        return f"Call {call.name}: {what}."
    if call.arguments:
        return f"Call {call.name} with {', '.join(call.arguments)}."
    return f"Call {call.name}."


FINISH_RATIONALE = {
    "summarizer": "The results so far are enough to answer the request.",
    "give_up": "The calls so far have not solved the task; give up.",
}


def tools_from_functions(functions: Any, where: str) -> list[dict[str, Any]]:
    """ToolBench function definitions (OpenAI schema) without `Finish`, descriptions compacted and
    `example_value` written as JSON schema's `examples` (as `stabletoolbench.api_to_tool` does);
    an exact duplicate is dropped, two different definitions with one name are an error."""
    if not isinstance(functions, list):
        raise ValueError(f"{where} must be a list of function definitions")
    tools: dict[str, dict[str, Any]] = {}
    for i, fn in enumerate(functions):
        try:
            tool = normalize_tool(fn, where=f"{where}[{i}]")
        except SchemaError as e:
            raise ValueError(str(e)) from None
        if tool["name"] == FINISH:
            continue
        tool["description"] = compact_description(tool["description"])
        tool["parameters"]["properties"] = {name: _examples(schema)
                                            for name, schema in tool["parameters"]["properties"].items()}
        if tool["name"] in tools and tools[tool["name"]] != tool:
            raise ValueError(f"{where}: two different definitions of {tool['name']!r}")
        tools[tool["name"]] = tool
    return list(tools.values())


def _examples(schema: Any) -> Any:
    """ToolBench's `example_value` as JSON schema's `examples` (a copy; the input is not changed)."""
    if not isinstance(schema, dict) or "example_value" not in schema:
        return schema
    out = {k: v for k, v in schema.items() if k != "example_value"}
    if schema["example_value"] not in (None, ""):
        out["examples"] = [schema["example_value"]]
    return out


@dataclass
class Episode:
    """A chain of chat messages read into planner steps (what `Trajectory` needs, plus counts)."""

    instruction: str = ""
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    restart_prompts: int = 0
    derived_rationales: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, step: Step, error: str) -> None:
        """Record a call to a tool that was not offered as the runtime records it (`agent.loop`):
        out of `steps`, whose actions must name offered tools, and in `meta["rejected_calls"]`
        with its index among all the steps, so the chain the source holds can be rebuilt."""
        self.rejected.append({"index": len(self.steps) + len(self.rejected), **step.to_dict(), "error": error})

    @property
    def outcome(self) -> str:
        return "given_up" if self.steps and self.steps[-1].next == "give_up" else "solved"


def parse_arguments(raw: Any, what: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{what}: arguments must be a JSON string or object")
    try:
        args = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: arguments are not valid JSON ({e.msg})") from None
    if not isinstance(args, dict):
        raise ValueError(f"{what}: arguments must be a JSON object, got {type(args).__name__}")
    return args


def episode_from_messages(messages: Any, tools: list[dict[str, Any]], where: str = "messages") -> Episode:
    """Read an OpenAI-style chain (system / user / assistant with `function_call` / function)
    into steps; raises ValueError naming the message that breaks the chain."""
    if not isinstance(messages, list):
        raise ValueError(f"{where} must be a list of messages")
    by_name = {t["name"]: t for t in tools}
    ep = Episode()
    thought: list[str] = []  # thoughts of assistant turns that made no call yet
    i = 0
    while i < len(messages):
        m, at = messages[i], f"{where}[{i}]"
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"{at} must be an object with a 'role'")
        if ep.steps and ep.steps[-1].next != "caller":
            raise ValueError(f"{at}: a message follows the Finish call")
        role, content = m["role"], (m.get("content") or "")
        if not isinstance(content, str):
            raise ValueError(f"{at}.content must be a string")
        if role == "system":
            pass
        elif role == "user":
            if not ep.instruction:
                ep.instruction = re.sub(r"\s*Begin!\s*$", "", content).strip()
            elif content.startswith(RESTART_PROMPT) or m.get("valid") is False:
                ep.restart_prompts += 1
            else:
                raise ValueError(f"{at}: a second user request in one episode")
        elif role == "assistant":
            if content.strip():
                thought.append(content.strip())
            call = m.get("function_call")
            if call is None:
                i += 1
                continue
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise ValueError(f"{at}.function_call must be an object with a string 'name'")
            args = parse_arguments(call.get("arguments", "{}"), f"{at}.function_call")
            rationale = "\n".join(thought)
            thought = []
            if call["name"] == FINISH:
                ep.steps.append(_finish_step(ep, args, rationale, at))
            else:
                action = ToolCall(call["name"], args)
                if not rationale:
                    rationale = derived_rationale(action, by_name.get(call["name"]))
                    ep.derived_rationales += 1
                obs = messages[i + 1] if i + 1 < len(messages) else None
                if not (isinstance(obs, dict) and obs.get("role") == "function"):
                    raise ValueError(f"{at}: the call to {call['name']!r} has no function result after it")
                if obs.get("name") not in (None, call["name"]):
                    raise ValueError(f"{where}[{i + 1}]: result of {obs.get('name')!r}, expected {call['name']!r}")
                step = Step(rationale, "caller", action, as_text(obs.get("content")))
                if call["name"] in by_name:
                    ep.steps.append(step)
                else:
                    ep.reject(step, f"unknown tool {call['name']!r}: {at} calls a tool the source did not offer")
                i += 1
        elif role == "function":
            raise ValueError(f"{at}: a function result without a call before it")
        else:
            raise ValueError(f"{at}: unknown role {role!r}")
        i += 1
    if not ep.instruction:
        raise ValueError(f"{where}: no user message with the request")
    if thought or not ep.steps or ep.steps[-1].next == "caller":
        raise ValueError(f"{where}: the chain does not end with a Finish call")
    return ep


def _finish_step(ep: Episode, args: dict[str, Any], rationale: str, at: str) -> Step:
    kind = args.get("return_type")
    if kind == "give_answer":
        answer = args.get("final_answer")
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"{at}: Finish(give_answer) without a final_answer")
        ep.answer, next_ = answer.strip(), "summarizer"
    elif kind == "give_up_and_restart":
        next_ = "give_up"
    else:
        raise ValueError(f"{at}: Finish has unknown return_type {kind!r}")
    if not rationale:
        ep.derived_rationales += 1
    return Step(rationale or FINISH_RATIONALE[next_], next_)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def trajectory(ep: Episode, *, id: str, source: str, tools: list[dict[str, Any]],
               meta: dict[str, Any]) -> Trajectory:
    """The validated trajectory of an episode (SchemaError -> ValueError for the loaders)."""
    meta = {**meta, "restart_prompts": ep.restart_prompts, "derived_rationales": ep.derived_rationales}
    if ep.rejected:
        meta["rejected_calls"] = ep.rejected
    traj = Trajectory(id=id, instruction=ep.instruction, tools=tools, steps=ep.steps, answer=ep.answer,
                      outcome=ep.outcome, source=source, meta=meta)
    try:
        traj.validate()
    except SchemaError as e:
        raise ValueError(str(e)) from None
    return traj
