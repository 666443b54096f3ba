"""Summarizer: writes the final answer once the planner decides the work is done."""

from __future__ import annotations

import re
from typing import Any

from multiagentllm.roles import FormatError
from multiagentllm.roles.render import ANSWER_CUE, Rendered, header, render_history
from multiagentllm.types import Step, Trajectory

ROLE = "summarizer"
# Generation stops at EOS or at the first of these (text a role must never write).
STOP = ["\n<s>", "\nRationale:", "\nObservation:"]
MAX_NEW_TOKENS = 256


def prompt(instruction: str, tools: list[dict[str, Any]], steps: list[Step], rationale: str = "",
           role: str = ROLE) -> str:
    """`steps` ends with the planner's `summarizer` step, which holds the rationale (`rationale`
    is not read: every turn's prompt has the same signature, see `roles.registry`)."""
    out = Rendered()
    out.add(header(role, tools, instruction))
    render_history(out, steps)
    out.add(ANSWER_CUE)
    return out.text


def target(answer: str) -> str:
    return answer.strip()


def parse(text: str) -> str:
    answer = re.sub(r"^\s*(Final\s+)?Answer\s*:\s*", "", text.strip(), flags=re.I).strip()
    if not answer:
        raise FormatError("summarizer output is empty")
    return answer


def sequence(traj: Trajectory) -> Rendered | None:
    """The summarizer's one turn, or None for a trajectory that did not end in an answer."""
    if not traj.steps or traj.steps[-1].next != "summarizer" or not traj.answer:
        return None
    out = Rendered()
    out.add(header(ROLE, traj.tools, traj.instruction))
    render_history(out, traj.steps)
    out.add(ANSWER_CUE)
    out.add(target(traj.answer), train=True)
    return out
