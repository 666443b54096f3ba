"""Verification of a synthetic trajectory before it is written.

A trajectory passes only if:

* format   -- it satisfies `Trajectory.validate()`;
* schema   -- every call that succeeded fits its offered tool's schema (a call the tool rejected is
              allowed: it is a recovery detour, and its error must be the one the tool gives);
* execution -- replaying every call in a fresh environment (`meta["env"]`) reproduces every
              observation exactly;
* facts    -- each declared fact (`meta["facts"]`) is in the answer and in the evidence (the
              instruction, the observations, the tool names), and every number the answer states
              is found in the evidence;
* shape    -- a solved trajectory with calls has at least one successful call, and its final
              rationale is not empty.

`verify` returns the reason of the first failed check (a short key, for the card's reject table)
or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from multiagentllm.tools import ToolRegistry
from multiagentllm.tools.registry import validate_arguments
from multiagentllm.types import SchemaError, Trajectory

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    """Numbers in a text, normalised ("15,500" == "15500.0" == "15500"); dates and times are
    split into their parts, so "2024-06-11" gives 2024, 6 and 11."""
    out = set()
    for token in _NUMBER.findall(text.replace("-", " - ").replace(":", " : ").replace("/", " / ")):
        token = token.replace(",", "")
        try:
            out.add(f"{float(token):.6g}")
        except ValueError:
            continue
    return out


def evidence_text(traj: Trajectory) -> str:
    parts = [traj.instruction, *traj.tool_names]
    parts += [s.observation for s in traj.steps if s.observation]
    parts += [json.dumps(s.action.arguments, ensure_ascii=False) for s in traj.steps if s.action]
    return "\n".join(parts)


def check_facts(traj: Trajectory) -> str | None:
    if traj.outcome != "solved":
        return None
    answer = traj.answer or ""
    evidence = evidence_text(traj)
    for fact in traj.meta.get("facts", []):
        fact = str(fact)
        if fact.lower() not in answer.lower() and not (numbers(fact) and numbers(fact) <= numbers(answer)):
            return "answer misses a fact"
        if fact.lower() not in evidence.lower() and not (numbers(fact) and numbers(fact) <= numbers(evidence)):
            return "fact not in observations"
    stray = numbers(answer) - numbers(evidence)
    if stray:
        return "answer states an ungrounded number"
    return None


def verify(traj: Trajectory, fresh: Callable[[Trajectory], ToolRegistry]) -> str | None:
    """The first reason `traj` is rejected, or None; `fresh(traj)` gives a new environment."""
    try:
        traj.validate()
    except SchemaError:
        return "format"
    offered = {t["name"]: t for t in traj.tools}
    registry = fresh(traj)
    any_ok = False
    for step in traj.steps:
        if step.action is None:
            if not step.rationale.strip():
                return "empty rationale"
            continue
        if not step.rationale.strip():
            return "empty rationale"
        schema_error = validate_arguments(offered[step.action.name], step.action.arguments)
        obs = registry.call(step.action.name, step.action.arguments, timeout=None)
        if obs.content != step.observation:
            return "execution does not reproduce the observation"
        if obs.ok and schema_error:
            return "call does not fit the tool schema"
        any_ok = any_ok or obs.ok
    if traj.outcome == "solved" and traj.calls and not any_ok:
        return "no successful call"
    return check_facts(traj)
