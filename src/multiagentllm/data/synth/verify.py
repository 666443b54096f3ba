"""Verification of a synthetic trajectory before it is written.

A trajectory passes only if:

* format   -- it satisfies `Trajectory.validate()`;
* schema   -- every call that succeeded fits its offered tool's schema (a call the tool rejected is
              allowed: it is a recovery detour, and its error must be the one the tool gives);
* execution -- replaying every call in a fresh environment (`meta["env"]`) reproduces every
              observation exactly;
* facts    -- each declared fact (`meta["facts"]`) is in the answer and in the evidence (the
              instruction, the observations, the tool names), and every number the answer states
              is found in the evidence (`multiagentllm.tools.replay.check_facts`, the check the
              pass-rate evaluation applies to the agent's episodes);
* shape    -- a solved trajectory with calls has at least one successful call, and its final
              rationale is not empty.

`verify` returns the reason of the first failed check (a short key, for the card's reject table)
or None.
"""

from __future__ import annotations

from collections.abc import Callable

from multiagentllm.tools import ToolRegistry
from multiagentllm.tools.registry import validate_arguments
from multiagentllm.tools.replay import check_facts
from multiagentllm.types import SchemaError, Trajectory


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
