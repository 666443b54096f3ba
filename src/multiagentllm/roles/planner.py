"""Planner: reads the request and the trajectory so far, writes a rationale and decides what is next."""

from __future__ import annotations

import re
from typing import Any

from multiagentllm.roles import FormatError
from multiagentllm.roles.render import Rendered, header, plan_text, render_history
from multiagentllm.types import Step, Trajectory

ROLE = "planner"
# Generation stops at EOS or at the first of these (text a role must never write).
STOP = ["\nAction:", "\nAction Input:", "\nObservation:", "\nRationale:", "\n<s>"]
MAX_NEW_TOKENS = 160
# Accepts our labels and the alpha-UMi release's ("Next: caller.", "Next: conclusion.", "Next: give up.").
_NEXT = re.compile(r"Next\s*:\s*(caller|summarizer|summary|conclusion|give[\s_-]*up)\b\.?", re.I)
_NEXT_MAP = {"caller": "caller", "summarizer": "summarizer", "summary": "summarizer", "conclusion": "summarizer"}


def prompt(instruction: str, tools: list[dict[str, Any]], steps: list[Step], rationale: str = "",
           role: str = ROLE) -> str:
    """Prompt for the next planner turn after the finished `steps` (`rationale` is not read: every
    turn's prompt has the same signature, see `roles.registry`)."""
    out = Rendered()
    out.add(header(role, tools, instruction))
    render_history(out, steps)
    return out.text


def target(step: Step) -> str:
    return plan_text(step.rationale, step.next)


def parse(text: str) -> tuple[str, str]:
    """Return (rationale, next) from a planner output; raise FormatError if there is no decision."""
    matches = list(_NEXT.finditer(text))
    if not matches:
        raise FormatError("planner output has no 'Next: Caller|Summarizer|Give up' line")
    m = matches[0]
    word = m.group(1).lower()
    next_ = _NEXT_MAP.get(word, "give_up")
    rationale = text[: m.start()].strip()
    rationale = re.sub(r"^\s*(Rationale|Thought)\s*(\d+)?\s*:\s*", "", rationale, flags=re.I)
    return rationale.strip(), next_


def sequence(traj: Trajectory) -> Rendered:
    """All planner turns of a trajectory as one sequence with one supervised span per turn."""
    out = Rendered()
    out.add(header(ROLE, traj.tools, traj.instruction))
    render_history(out, traj.steps, train={"plan"})
    return out
