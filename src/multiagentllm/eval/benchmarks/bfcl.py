"""BFCL AST evaluation (single-turn Python categories) of an alpha-UMi trio or a single LLM.

The question is the instruction and the item's functions (converted to OpenAI schemas by the
loader) are the tools.  The agent runs as `umi run` runs it (`episodes`: the runtime's loop and
policy): every call it makes is recorded and answered with a fixed "not executed" observation,
until the planner chooses `Summarizer` / `Give up`, `max_calls` calls were made, or a runtime
limit ends the episode.  The recorded calls are the model's output, judged by
`bfcl_checker.check` against the `possible_answer` file.  For the irrelevance category, making
no call is right.  Format errors and how the episode ended are recorded with the item.

In the suite each category is a benchmark of its own (`BENCHMARKS`), read from BFCL's data folder
under the datasets root; the parallel categories run only when named with `--benchmarks`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.bfcl import answers_path, load_bfcl
from multiagentllm.agent.faults import total
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Missing, Where
from multiagentllm.eval.bfcl_checker import check
from multiagentllm.eval.episodes import POLICY, Task, run_episodes
from multiagentllm.eval.generate import Generator, System
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
                        "end": ep.end, "outputs": ep.outputs, "faults": ep.faults})
    valid = [r["valid"] for r in records]
    report = {"benchmark": "bfcl", "data": [str(questions)], "n": len(records), "accuracy": mean(valid),
              "groups": {c: {"n": len(v), "accuracy": mean(v)} for c, v in sorted(groups.items())},
              "faults": total(r["faults"] for r in records),
              "bad_items": bad.skipped, "bad_examples": bad.examples}
    return report, records


def item_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures one per-item record carries (what `eval paired` compares)."""
    return {"accuracy": float(bool(record["valid"]))}


# --- the benchmarks in the suite: one per category ------------------------------------------------

DATA_DIR = ("gorilla", "berkeley-function-call-leaderboard", "bfcl_eval", "data")


def find(where: Where, limit: int | None, *, file: str) -> Items:
    """The category's question file and, except for irrelevance (no call is right), its answers."""
    questions = where.root.joinpath(*DATA_DIR, file)
    answers = None if "irrelevance" in file else answers_path(questions)
    needed = [p for p in (questions, answers) if p is not None]
    gone = next((p for p in needed if not p.exists()), None)
    if gone is not None:
        raise Missing(f"{gone} not found (set UMI_DATA_ROOT to the datasets folder)")
    return Items([questions, answers], needed, limit)


def run(items: Items, system: System, cache: Path | None, batch_size: int = 0, *, max_calls: int = MAX_CALLS):
    gen = Generator(system, cache=cache, batch_size=batch_size)
    questions, answers = items.inputs
    report, records = evaluate_bfcl(questions, gen, answers=answers, limit=items.limit, max_calls=max_calls)
    return report, records, gen


def category(name: str, file: str, label: str, *, default: bool = True) -> Benchmark:
    return Benchmark(name, "bfcl", (("accuracy", label),), partial(find, file=file), run, default, version=POLICY,
                     item_figures=item_figures)


BENCHMARKS = (
    category("bfcl_simple", "BFCL_v4_simple_python.json", "BFCL simple"),
    category("bfcl_multiple", "BFCL_v4_multiple.json", "BFCL multiple"),
    category("bfcl_irrelevance", "BFCL_v4_irrelevance.json", "BFCL irrelevance (no call)"),
    category("bfcl_parallel", "BFCL_v4_parallel.json", "BFCL parallel", default=False),
    category("bfcl_parallel_multiple", "BFCL_v4_parallel_multiple.json", "BFCL parallel multiple", default=False),
)
