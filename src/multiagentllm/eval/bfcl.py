"""BFCL AST evaluation (single-turn Python categories) of an alpha-UMi trio or a single LLM.

The question is the instruction and the item's functions (converted to OpenAI schemas by the
loader) are the tools.  The agent runs planner -> caller rounds (see `episodes`): every call the
caller makes is recorded and answered with a fixed "not executed" observation, until the planner
chooses `Summarizer` / `Give up` or `max_calls` calls were made.  The recorded calls are the
model's output, judged by `bfcl_checker.check` against the `possible_answer` file.  For the
irrelevance category, making no call is right.  An output that does not parse ends the episode;
the calls made before it still count, and the reason is recorded.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.bfcl import load_bfcl
from multiagentllm.agent.faults import total
from multiagentllm.eval.bfcl_checker import check
from multiagentllm.eval.episodes import Task, run_episodes
from multiagentllm.eval.generate import Generator
from multiagentllm.eval.metrics import mean
from multiagentllm.io import SkipReport, require_records

MAX_CALLS = 6


def evaluate_bfcl(questions: str | os.PathLike, gen: Generator, *, answers: str | os.PathLike | None = None,
                  limit: int | None = None, max_calls: int = MAX_CALLS) -> tuple[dict[str, Any], list[dict]]:
    """Run and judge a BFCL question file; return (report, per-item records)."""
    bad = SkipReport()
    items = list(load_bfcl(questions, answers=answers, skip_bad=True, report=bad))
    require_records(questions, len(items), bad, what="questions")
    if limit is not None:
        items = items[:limit]
    for item in items:
        if "irrelevance" not in item.meta["category"] and "possible_answer" not in item.meta:
            raise FileNotFoundError(f"{questions}: category {item.meta['category']!r} needs its possible "
                                    f"answers; pass --answers FILE")
    tasks = [Task(i.id, i.instruction, i.tools) for i in items]
    episodes = run_episodes(gen, tasks, max_calls=max_calls, desc=Path(questions).stem)
    records, groups = [], defaultdict(list)
    for item, ep in zip(items, episodes):
        output = [{c.name: c.arguments} for c in ep.calls]
        result = check(item.meta["category"], item.meta["bfcl_functions"], output,
                       item.meta.get("possible_answer"))
        groups[item.meta["category"]].append(result.valid)
        records.append({"id": item.id, "category": item.meta["category"], "calls": output,
                        "valid": result.valid, "error_type": result.kind,
                        "reason": "; ".join(x for x in [result.error, *ep.errors] if x),
                        "end": ep.end, "outputs": ep.outputs, "faults": ep.faults()})
    valid = [r["valid"] for r in records]
    report = {"benchmark": "bfcl", "data": [str(questions)], "n": len(records), "accuracy": mean(valid),
              "groups": {c: {"n": len(v), "accuracy": mean(v)} for c, v in sorted(groups.items())},
              "faults": total(r["faults"] for r in records),
              "bad_items": bad.skipped, "bad_examples": bad.examples}
    return report, records
