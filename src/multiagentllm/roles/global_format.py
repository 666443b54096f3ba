"""Stage-1 (global) format: the whole trajectory as one target, in the seed's exact text form::

    <s> {instruction} </s>
    Rationale 1: {rationale}
    Action 1: {tool name} {JSON arguments}
    Observation 1: {observation}
    ...
    Answer: {answer}

Observations are part of the sequence but never supervised. A trajectory that ends in give-up
ends with `Rationale n: ...` followed by `Give up.`.
"""

from __future__ import annotations

from multiagentllm.roles.render import (
    Rendered, format_arguments, render_tools, system_prompt, truncate_observation,
)
from multiagentllm.types import Trajectory

ROLE = "global"
GIVE_UP = "Give up."


def text(traj: Trajectory) -> str:
    """The seed-format text of a trajectory (no system prompt, no tools)."""
    return _body(traj, Rendered()).text


def _body(traj: Trajectory, out: Rendered) -> Rendered:
    out.add(f"<s> {traj.instruction.strip()} </s>\n")
    for i, step in enumerate(traj.steps, 1):
        turn = f"Rationale {i}: {step.rationale.strip()}\n"
        if step.action is not None:
            turn += f"Action {i}: {step.action.name} {format_arguments(step.action.arguments)}\n"
        out.add(turn, train=True)
        if step.observation is not None:
            out.add(f"Observation {i}: {truncate_observation(step.observation)}\n")
    if traj.outcome == "solved" and traj.answer:
        out.add(f"Answer: {traj.answer.strip()}", train=True)
    else:
        out.add(GIVE_UP, train=True)
    return out


def sequence(traj: Trajectory) -> Rendered:
    """System prompt + tools + the seed-format text; supervised: rationales, actions, answer."""
    out = Rendered()
    out.add(f"{system_prompt(ROLE)}\n\n{render_tools(traj.tools)}\n\n")
    return _body(traj, out)
