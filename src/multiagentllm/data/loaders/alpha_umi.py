"""The alpha-UMi release's data formats (github.com/X-PLUG/Multi-LLM-Agent, `GLPFT/dataset/toolbench`).

Three record shapes, in JSON arrays or JSONL; each record is recognised by its fields:

* **conversations** (`raw_data_stage_2.json`, the test sets):
  `{"tools", "instruction", "conversations": [{"from", "value"}]}` with turns `user`, `assistant`
  (the planner: a thought ending `Next: caller.`, `Next: conclusion.` or `Next: give up.`),
  `caller` (`Action: <name>\\nAction Input: <json>`), `observation` and `conclusion` (the answer);
* **role rows** (`train_planner.json`, `train_caller.json`, `train_summarizer.json`,
  `train_backbone.json`): `{"tools", "history", "input", "target"}`, `history` being the turns
  before the row's target.  The role is read from where the row stands: after a planner turn
  that says `Next: conclusion` the target is the answer, after `Next: caller` a call; a target
  with a `Next:` label is a planner turn; a backbone target is a thought followed by
  `Action: ...` or `conclusion: <answer | give up.>`.  History + target is a whole episode only
  for a summarizer row, a give-up planner row and a backbone row that concludes; every other
  row is a prefix of one of those (the same episode, cut before it ends) and yields nothing;
* **chains** (`raw_data_stage_1.json`): `{"tools", "instruction", "chains": [OpenAI messages]}`,
  read like ToolBench's DFSDT chains (`toolbench.episode_from_messages`).

Tools come as `{"Name", "function", "input": {param: "type, description"}}` (alpha-UMi's
compact form, which keeps no `required` list: every parameter is left optional) or as OpenAI
function schemas.  As in `toolbench`: DFSDT restart prompts (`user` turns after the first) are
dropped and counted in `meta["restart_prompts"]`; an empty thought gets a rationale derived from
the call; the observations are kept as the file has them (alpha-UMi kept only the `response` part).

DFSDT trajectories also hold planner turns with no `Next:` label.  They are read as the paper's
evaluator (`GLPFT/inference_utils/toolbench/evaluate-multi_agent.py`) scores them, where every
planner turn without `Next: give up` or `Next: conclusion` is a call, and each rule is counted
in the trajectory's meta so a report can say how many records it touched:

* an unlabelled planner turn followed by a caller turn is a `Next: caller` step
  (`meta["unlabelled_calls"]`);
* an unlabelled planner turn followed by another planner turn, or by a restart prompt before a
  retry, is a thought: the next planner turn's decision completes it, and both texts are that
  step's rationale (`meta["joined_thoughts"]`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.chains import (
    FINISH_RATIONALE, RESTART_PROMPT, Episode, derived_rationale, episode_from_messages, trajectory,
)
from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.data.loaders.stabletoolbench import compact_description
from multiagentllm.io import SkipReport
from multiagentllm.roles import FormatError, caller, planner
from multiagentllm.types import SchemaError, Step, Trajectory, normalize_tool

SOURCE = "alpha_umi"
_JSON_TYPES = {"string": "string", "str": "string", "integer": "integer", "int": "integer", "number": "number",
               "float": "number", "boolean": "boolean", "bool": "boolean", "array": "array", "object": "object"}
_BACKBONE_END = re.compile(r"(?:^|\n)\s*conclusion:\s?(?P<answer>.*)$", re.S)
_ACTION = re.compile(r"(?:^|\n)\s*Action\s*:", re.I)
_LABEL = re.compile(r"Next\s*:\s*[^\n]*", re.I)


def convert_tool(tool: Any, where: str = "tool") -> dict[str, Any]:
    """alpha-UMi's `{"Name", "function", "input"}` (or an OpenAI schema) -> OpenAI function schema."""
    if not (isinstance(tool, dict) and "Name" in tool):
        try:
            return normalize_tool(tool, where=where)
        except SchemaError as e:
            raise ValueError(str(e)) from None
    name, inputs = tool["Name"], tool.get("input") or {}
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.Name must be a non-empty string")
    if not isinstance(inputs, dict):
        raise ValueError(f"{where}.input must be an object of 'type, description' strings")
    properties: dict[str, Any] = {}
    for pname, spec in inputs.items():
        raw_type, _, desc = str(spec).partition(",")
        json_type = _JSON_TYPES.get(raw_type.strip().lower())
        schema: dict[str, Any] = {"type": json_type} if json_type else {}
        schema["description"] = desc.strip() if json_type else str(spec).strip()
        properties[str(pname)] = schema
    return {"name": name, "description": compact_description(str(tool.get("function") or "")),
            "parameters": {"type": "object", "properties": properties, "required": []}}


@dataclass
class TurnsEpisode(Episode):
    """An episode read from alpha-UMi turns, with the counts of the unlabelled-turn rules."""

    unlabelled_calls: int = 0
    joined_thoughts: int = 0


def episode_from_turns(turns: Any, tools: list[dict[str, Any]], where: str = "conversations", *,
                       partial_ok: bool = False) -> TurnsEpisode | None:
    """Read alpha-UMi turns into steps.  With `partial_ok`, turns that stop before the episode
    ends give None (a role row's prefix); otherwise that is an error like any other."""
    if not isinstance(turns, list):
        raise ValueError(f"{where} must be a list of turns")
    by_name = {t["name"]: t for t in tools}
    ep, pending = TurnsEpisode(), []

    def turn(i: int, expected: str) -> str | None:
        if i >= len(turns):
            if partial_ok:
                return None
            raise ValueError(f"{where}: the conversation ends before the {expected} turn")
        t = turns[i]
        if t.get("from") != expected:
            raise ValueError(f"{where}[{i}]: expected a {expected!r} turn, got {t.get('from')!r}")
        return t["value"]

    i = 0
    while i < len(turns):
        t, at = turns[i], f"{where}[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("value"), str) or "from" not in t:
            raise ValueError(f"{at} must be an object with 'from' and a string 'value'")
        if ep.steps and ep.steps[-1].next != "caller":
            raise ValueError(f"{at}: a turn follows the final planner decision")
        kind, value = t["from"], t["value"]
        if kind == "user":
            if not ep.instruction:
                ep.instruction = value.strip()
            elif value.startswith(RESTART_PROMPT):
                ep.restart_prompts += 1
            else:
                raise ValueError(f"{at}: a second user request in one episode")
        elif kind == "assistant":
            try:
                rationale, next_ = planner.parse(value)
            except FormatError:
                label = _LABEL.search(value)
                if label:
                    raise ValueError(f"{at}: unknown planner decision {label.group(0).strip()!r}; "
                                     "expected Next: caller, conclusion or give up") from None
                following = _following(turns, i + 1)
                if following in ("assistant", "restart"):
                    pending.append(value.strip())  # a thought; the next planner turn decides
                    ep.joined_thoughts += 1
                    i += 1
                    continue
                if following == "caller":  # the paper's rule: no give up, no conclusion -> a call
                    rationale, next_ = value.strip(), "caller"
                    ep.unlabelled_calls += 1
                elif partial_ok and i + 1 == len(turns):
                    return None
                else:
                    raise ValueError(f"{at}: planner turn without 'Next: caller|conclusion|give up', "
                                     "followed by no caller turn, planner turn or restart prompt") from None
            rationale = "\n".join([*pending, rationale]).strip()
            pending = []
            step = _step(ep, i, rationale, next_, by_name, turn, at)
            if step is None:
                return None
            ep.steps.append(step)
            i += {"caller": 3, "summarizer": 2, "give_up": 1}[next_]
            continue
        elif kind in ("caller", "observation", "conclusion"):
            raise ValueError(f"{at}: a {kind!r} turn without the planner turn that asks for it")
        else:
            raise ValueError(f"{at}: unknown turn 'from': {kind!r}")
        i += 1
    if not ep.instruction:
        raise ValueError(f"{where}: no user turn with the request")
    if not ep.steps or ep.steps[-1].next == "caller":
        if partial_ok:
            return None
        raise ValueError(f"{where}: the conversation ends before the planner decides conclusion or give up")
    return ep


def _following(turns: list, i: int) -> str | None:
    """What turn `i` is, for an unlabelled planner turn before it: 'restart' for a restart prompt."""
    t = turns[i] if i < len(turns) else None
    if not isinstance(t, dict):
        return None
    if t.get("from") == "user" and str(t.get("value", "")).startswith(RESTART_PROMPT):
        return "restart"
    return t.get("from")


def _step(ep: Episode, i: int, rationale: str, next_: str, by_name: dict, turn, at: str) -> Step | None:
    if next_ == "give_up":
        if not rationale:
            ep.derived_rationales += 1
        return Step(rationale or FINISH_RATIONALE["give_up"], "give_up")
    if next_ == "summarizer":
        answer = turn(i + 1, "conclusion")
        if answer is None:
            return None
        if not answer.strip() or answer.strip().lower() == "none":
            raise ValueError(f"{at}: the conclusion turn holds no answer")
        ep.answer = answer.strip()
        if not rationale:
            ep.derived_rationales += 1
        return Step(rationale or FINISH_RATIONALE["summarizer"], "summarizer")
    text = turn(i + 1, "caller")
    if text is None:
        return None
    try:
        action = caller.parse(text)
    except FormatError as e:
        raise ValueError(f"{at.rsplit('[', 1)[0]}[{i + 1}]: {e}") from None
    if action.name not in by_name:
        raise ValueError(f"{at.rsplit('[', 1)[0]}[{i + 1}]: calls {action.name!r}, which is not in the tool list")
    observation = turn(i + 2, "observation")
    if observation is None:
        return None
    if not rationale:
        rationale = derived_rationale(action, by_name[action.name])
        ep.derived_rationales += 1
    return Step(rationale, "caller", action, observation)


def row_turns(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A role row's history with its target as the turn(s) it stands for."""
    history, target = row["history"], row["target"]
    if not isinstance(history, list) or not isinstance(target, str):
        raise ValueError("'history' must be a list of turns and 'target' a string")
    last = _last_decision(history)
    if last == "summarizer":
        return [*history, {"from": "conclusion", "value": target}]
    if last == "caller":
        return [*history, {"from": "caller", "value": target}]
    try:
        planner.parse(target)
        return [*history, {"from": "assistant", "value": target}]
    except FormatError:
        pass
    end = _BACKBONE_END.search(target)
    if end:  # backbone: "thought\nconclusion: answer" or "thought\nconclusion: give up."
        thought, answer = target[: end.start()].strip(), end.group("answer").strip()
        if answer.lower().rstrip(".") == "give up":
            return [*history, {"from": "assistant", "value": f"{thought}\n Next: give up."}]
        return [*history, {"from": "assistant", "value": f"{thought}\n Next: conclusion."},
                {"from": "conclusion", "value": answer}]
    action = _ACTION.search(target)
    if action:  # backbone: "thought\nAction: name\nAction Input: {...}"
        return [*history, {"from": "assistant", "value": f"{target[: action.start()].strip()}\n Next: caller."},
                {"from": "caller", "value": target[action.start():].strip()}]
    # A planner turn: one without a decision is a thought the next planner turn completes (a
    # prefix row); one with a label that is not a decision is an error, raised when it is read.
    return [*history, {"from": "assistant", "value": target}]


def _last_decision(history: list) -> str | None:
    if not history or not isinstance(history[-1], dict) or history[-1].get("from") != "assistant":
        return None
    try:
        return planner.parse(str(history[-1].get("value", "")))[1]
    except FormatError:
        return None


def record_trajectories(rec: Any, index: int, stem: str, file: str) -> list[Trajectory]:
    """The trajectory one record holds (none for a role row that is a prefix)."""
    if not isinstance(rec, dict):
        raise ValueError("a record must be an object")
    tools = [convert_tool(t, f"tools[{k}]") for k, t in enumerate(_list(rec["tools"], "tools"))]
    if "conversations" in rec:
        fmt, ep = "conversations", episode_from_turns(rec["conversations"], tools)
    elif "history" in rec or "target" in rec:
        fmt, ep = "role_row", episode_from_turns(row_turns(rec), tools, "history+target", partial_ok=True)
    elif "chains" in rec:
        fmt, ep = "chains", episode_from_messages(rec["chains"], tools, "chains")
    else:
        raise ValueError("not an alpha-UMi record: expected 'conversations', 'history'+'target' or 'chains'")
    if ep is None:
        return []
    if isinstance(rec.get("instruction"), str) and rec["instruction"].strip():
        ep.instruction = rec["instruction"].strip()
    meta: dict[str, Any] = {"file": file, "record": index, "format": fmt}
    if isinstance(ep, TurnsEpisode):
        meta.update(unlabelled_calls=ep.unlabelled_calls, joined_thoughts=ep.joined_thoughts)
    return [trajectory(ep, id=f"{SOURCE}-{stem}-{index}", source=SOURCE, tools=tools, meta=meta)]


def _list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"'{name}' must be a list")
    return value


def load_alpha_umi(path: str | os.PathLike, *, skip_bad: bool = False,
                   report: SkipReport | None = None) -> Iterator[Trajectory]:
    """Trajectories from an alpha-UMi data file (JSON array or JSONL; formats in the module doc)."""
    path = Path(path)
    yield from convert_each(path, lambda rec, i: record_trajectories(rec, i, path.stem, path.name),
                            skip_bad=skip_bad, report=report)
