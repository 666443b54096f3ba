"""tau-bench retail: a state-checked pass rate on the 20 dev tasks (`umi eval taubench`).

Each dev task (`tau_bench/envs/retail/tasks_dev.py`, parsed with `ast` as the training loader
does) is an item: the scenario rewritten as a first-person request (`taubench_text`), the gold
write actions and the required output strings. The agent (`agent.loop.Agent`, the real runtime)
plays the request once, with the retail tools over a fresh copy of the database. As in tau-bench,
the episode passes when:

* the database it leaves has the state hash the gold actions alone leave in a fresh copy (a gold
  action that fails changes nothing, as in tau-bench; such failures are counted in the report as
  `gold_errors`), and
* every required output string of the task appears in the answer (case-insensitive, commas
  dropped).

tau-bench's agent talks with a simulated user over many turns; this one gets one request and no
user to ask, so the scenario's behaviour notes ("Be initially indecisive ...") cannot be played
and the figure is not comparable with tau-bench's published ones.

tau-bench offers every tool; so does this benchmark by default (`max_tools=None`): offered only
the 5 most relevant by the runtime's retriever, the 20 dev requests have all the tools they need
for 3 tasks. `max_tools=K` measures the retrieval setting instead. In the suite the benchmark is
`taubench`, sized by `--limit-taubench`, and always offers every tool, whatever the suite's
`--max-tools`; it is skipped when the tau-bench files are not under the datasets root.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from multiagentllm.agent.faults import total
from multiagentllm.agent.loop import Agent, AgentConfig
from multiagentllm.data.loaders.taubench import TauTask, gold_run, parse_tasks
from multiagentllm.data.loaders.taubench_text import scenario_request
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Missing, Where
from multiagentllm.eval.generate import CachedLLM, System
from multiagentllm.eval.metrics import mean
from multiagentllm.io import DataError, SkipReport
from multiagentllm.paths import default_data_root, portable
from multiagentllm.tools.library.retail import RetailDB, retail_registry
from multiagentllm.tools.replay import MISSES_FACT
from multiagentllm.types import ToolCall

DEV_TASKS = Path("tau-bench/tau_bench/envs/retail/tasks_dev.py")
MAX_STEPS = 20  # planner turns: the longest dev task needs 4 look-ups and 6 writes


@dataclass
class TauItem:
    id: str
    instruction: str
    user_id: str
    actions: list[ToolCall]
    outputs: list[str]
    gold_hash: str
    data: Path  # the database folder
    rewrite: str = "pronouns"
    gold_errors: list[str] = field(default_factory=list)


def default_tasks() -> Path:

    return default_data_root() / DEV_TASKS


def gold_outcome(task: TauTask, data: Path) -> tuple[str, list[str]]:
    """The state hash the gold actions leave in a fresh database, and their errors as text."""
    state, errors = gold_run(task, data)
    return state, [f"gold action {k} {name}: {error}" for k, name, error in errors]


def load_items(path: str | os.PathLike | None = None, *, skip_bad: bool = False,
               report: SkipReport | None = None) -> list[TauItem]:
    """The tasks of a tau-bench task file (default: the dev tasks under the data root) as items;
    the database is `data/` beside the file."""
    path = Path(path) if path is not None else default_tasks()
    data = path.parent / "data"
    items = []
    for task in parse_tasks(path, skip_bad=skip_bad, report=report):
        gold, errors = gold_outcome(task, data)
        request, rewrite = scenario_request(task.scenario)
        items.append(TauItem(f"taubench-{path.stem.removeprefix('tasks_')}-{task.index}", request, task.user_id,
                             task.actions, task.outputs, gold, data, rewrite, errors))
    return items


def judge(item: TauItem, state: str, answer: str | None) -> str | None:
    """None when the episode passes, else why not."""
    if state != item.gold_hash:
        return "the database state differs from the one the gold actions leave"
    said = (answer or "").lower().replace(",", "")
    missing = [o for o in item.outputs if o.lower() not in said]
    if missing:
        return f"{MISSES_FACT}: it does not state {', '.join(map(repr, missing))}"
    return None


def run_item(agent_or_llm: Any, item: TauItem, *, max_steps: int = MAX_STEPS,
             config: AgentConfig | None = None) -> dict[str, Any]:
    """Play one item with the real agent over a fresh database copy; the scored record.

    `agent_or_llm` is a `System` (an LLM with the runtime's safeguard settings) or a bare `LLM`
    (every safeguard on, every tool offered)."""

    system = agent_or_llm if isinstance(agent_or_llm, System) else System(agent_or_llm, agent=AgentConfig(max_tools=None))
    registry = retail_registry(RetailDB.load(item.data))
    config = config or system.episode_config(max_steps=max_steps)
    result = Agent(system.llm, registry, config, single_mode=system.single).run(
        item.instruction, toolset="retail", episode_id=item.id)
    state = registry.world.retail_db.state_hash()
    reason = judge(item, state, result.answer)
    return {"id": item.id, "passed": reason is None, "reason": reason or "", "status": result.status,
            "answer": result.answer, "calls": [c.to_dict() for c in result.trajectory.calls],
            "gold_actions": [c.to_dict() for c in item.actions], "gold_errors": item.gold_errors,
            "rewrite": item.rewrite, "faults": result.trajectory.meta["faults"]}


def evaluate_taubench(path: str | os.PathLike | None, system: System, *, limit: int | None = None,
                      cache: str | os.PathLike | None = None, max_steps: int = MAX_STEPS,
                      progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The pass rate over the file's first `limit` tasks (all by default) and the per-item records."""
    from tqdm import tqdm


    path = Path(path) if path is not None else default_tasks()
    bad = SkipReport()
    items = load_items(path, skip_bad=True, report=bad)[:limit]
    if not items:
        first = f" ({bad.skipped} bad; the first: {bad.examples[0]})" if bad.examples else ""
        raise DataError(path, None, f"no tau-bench tasks{first}")
    cached = System(CachedLLM(system.llm, cache, namespace=system.name), system.single, system.name, system.agent)
    records = [run_item(cached, item, max_steps=max_steps)
               for item in tqdm(items, desc="episodes", unit="task", disable=not progress)]
    passed = [r["passed"] for r in records]
    report = {"benchmark": "taubench", "data": [portable(path)], "n": len(records), "pass_rate": mean(passed),
              "groups": {}, "statuses": dict(sorted(Counter(r["status"] for r in records).items())),
              "faults": total(r["faults"] for r in records), "max_tools": system.agent.max_tools,
              "gold_errors": sum(len(i.gold_errors) for i in items),
              "bad_items": bad.skipped, "bad_examples": bad.examples}
    return report, records


def item_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures one per-item record carries (what `eval paired` compares)."""
    return {"pass_rate": float(bool(record["passed"]))}


# --- the benchmark in the suite ------------------------------------------------------------------

def find(where: Where, limit: int | None) -> Items:
    """The retail dev tasks under the datasets root, with the database beside them."""
    tasks = where.root / DEV_TASKS
    if not tasks.exists():
        raise Missing(f"{tasks} not found (set UMI_DATA_ROOT to the datasets folder)")
    files = [tasks, *sorted((tasks.parent / "data").glob("*.json"))]
    return Items([tasks], files, limit, {"max_steps": MAX_STEPS, "max_tools": None})


def run(items: Items, system: System, cache: Path | None, batch_size: int = 0):
    """One episode per task through the agent loop (one prompt at a time: `batch_size` does not
    apply), every retail tool offered as tau-bench offers them."""
    every_tool = replace(system, agent=replace(system.agent, max_tools=None))
    report, records = evaluate_taubench(items.inputs[0], every_tool, limit=items.limit, cache=cache,
                                        max_steps=items.extra["max_steps"])
    return report, records, None


BENCHMARKS = (Benchmark("taubench", "taubench", (("pass_rate", "tau-bench retail (dev)"),), find, run,
                        item_figures=item_figures),)
