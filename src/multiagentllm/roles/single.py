"""Single-LLM baseline: one model plays planner, caller and summarizer with one system prompt.

It reads the same history as the three roles, so the comparison with alpha-UMi differs only in
who writes each turn."""

from __future__ import annotations

from multiagentllm.roles import caller, planner, summarizer
from multiagentllm.roles.render import ANSWER_CUE, Rendered, header, render_history
from multiagentllm.types import Trajectory

ROLE = "single"


def prompt_for(role: str, instruction, tools, steps, rationale: str | None = None) -> str:
    """The single model's prompt for the turn that `role` would write in the three-model agent."""
    if role == "planner":
        return planner.prompt(instruction, tools, steps, role=ROLE)
    if role == "caller":
        return caller.prompt(instruction, tools, steps, rationale or "", role=ROLE)
    if role == "summarizer":
        return summarizer.prompt(instruction, tools, steps, role=ROLE)
    raise ValueError(f"unknown role {role!r}")


def sequence(traj: Trajectory) -> Rendered:
    out = Rendered()
    out.add(header(ROLE, traj.tools, traj.instruction))
    render_history(out, traj.steps, train={"plan", "call"})
    if traj.steps and traj.steps[-1].next == "summarizer" and traj.answer:
        out.add(ANSWER_CUE)
        out.add(summarizer.target(traj.answer), train=True)
    return out
