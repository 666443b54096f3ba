"""Builders from canonical trajectories to GLPFT training rows.

Two forms of the same supervision:

* sequence rows ``{"text", "spans"}`` (one row per trajectory and role, the supervised character
  spans marked) -> ``{split}.seq.jsonl``, written for every dataset; training uses this form;
* per-step rows ``{"prompt", "completion"}`` (the seed's format: one row per role step, loadable by
  `datasets` and TRL's prompt-completion trainer) -> ``{split}.jsonl``, written only when asked
  (`umi data build --step-rows`).  Because the renderer is prefix-stable their loss terms are the
  same as the sequence rows', for O(k^2) tokens instead of O(k).  The tests compare the runtime's
  prompts with these rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from multiagentllm.roles import caller, global_format, planner, summarizer
from multiagentllm.roles.registry import DATASETS, dataset_role
from multiagentllm.roles.render import Rendered
from multiagentllm.types import Trajectory


def _row(traj: Trajectory, name: str, k: int, prompt: str, completion: str) -> dict[str, Any]:
    return {"id": f"{traj.id}#{name}{k}", "traj_id": traj.id, "source": traj.source,
            "prompt": prompt, "completion": completion}


def planner_rows(traj: Trajectory, role: str = "planner") -> Iterator[dict[str, Any]]:
    for k, step in enumerate(traj.steps):
        prompt = planner.prompt(traj.instruction, traj.tools, traj.steps[:k], role=role)
        yield _row(traj, "planner", k, prompt, planner.target(step))


def caller_rows(traj: Trajectory, role: str = "caller") -> Iterator[dict[str, Any]]:
    for k, step in enumerate(traj.steps):
        if step.action is None:
            continue
        prompt = caller.prompt(traj.instruction, traj.tools, traj.steps[:k], step.rationale, role=role)
        yield _row(traj, "caller", k, prompt, caller.target(step.action))


def summarizer_rows(traj: Trajectory, role: str = "summarizer") -> Iterator[dict[str, Any]]:
    if traj.steps and traj.steps[-1].next == "summarizer" and traj.answer:
        prompt = summarizer.prompt(traj.instruction, traj.tools, traj.steps, role=role)
        yield _row(traj, "summarizer", len(traj.steps) - 1, prompt, summarizer.target(traj.answer))


def global_rows(traj: Trajectory) -> Iterator[dict[str, Any]]:
    seq = global_format.sequence(traj)
    cut = seq.text.index("<s> ")
    cut = seq.text.index("\n", cut) + 1  # the prompt ends after "<s> {instruction} </s>\n"
    yield _row(traj, "global", 0, seq.text[:cut], seq.text[cut:])


def single_rows(traj: Trajectory) -> Iterator[dict[str, Any]]:
    """The single-LLM baseline: all roles' targets in trajectory order, under one prompt."""
    t, k = traj, 0
    for i, step in enumerate(t.steps):
        yield _row(t, "single", k, planner.prompt(t.instruction, t.tools, t.steps[:i], role="single"),
                   planner.target(step))
        k += 1
        if step.action is not None:
            yield _row(t, "single", k, caller.prompt(t.instruction, t.tools, t.steps[:i], step.rationale,
                                                      role="single"), caller.target(step.action))
            k += 1
    for row in summarizer_rows(t, role="single"):
        yield {**row, "id": f"{t.id}#single{k}"}


STEP_ROWS = {
    "global": global_rows, "planner": planner_rows, "caller": caller_rows,
    "summarizer": summarizer_rows, "single": single_rows,
}


def sequence(traj: Trajectory, name: str) -> Rendered | None:
    """The multi-span training sequence of `traj` for dataset `name` (None if it has no target)."""
    seq = dataset_role(name).sequence(traj)
    if seq is None or not seq.spans:
        return None
    return seq


def sequence_row(traj: Trajectory, name: str) -> dict[str, Any] | None:
    seq = sequence(traj, name)
    if seq is None:
        return None
    return {"id": f"{traj.id}#{name}", "traj_id": traj.id, "source": traj.source,
            "text": seq.text, "spans": [list(s) for s in seq.spans]}
