"""Single-LLM baseline: one model plays planner, caller and summarizer with one system prompt.

It reads the same history as the three roles, so the comparison with alpha-UMi differs only in
who writes each turn: its prompt for a turn is that turn's prompt under the single-LLM system
prompt (`registry.prompt(turn, ..., single=True)`)."""

from __future__ import annotations

from multiagentllm.roles import summarizer
from multiagentllm.roles.render import ANSWER_CUE, Rendered, header, render_history
from multiagentllm.types import Trajectory

ROLE = "single"


def sequence(traj: Trajectory) -> Rendered:
    out = Rendered()
    out.add(header(ROLE, traj.tools, traj.instruction))
    render_history(out, traj.steps, train={"plan", "call"})
    if traj.steps and traj.steps[-1].next == "summarizer" and traj.answer:
        out.add(ANSWER_CUE)
        out.add(summarizer.target(traj.answer), train=True)
    return out
