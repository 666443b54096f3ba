"""End-to-end pass rate on executable tasks the model was not trained on.

Two kinds of held-out task (`families`): those of the task families held out of training
altogether (the synthesis engine marks them `meta["split"] == "test"`: new compositions of known
tools), and new instructions of the families seen in training (the data build's test split,
`DATA/trajectories/test.jsonl`, holds both).  Each is a task: its instruction, its offered tools,
and the world it was played in (`meta["env"]`).  The agent
(`multiagentllm.agent.loop.Agent`, the real runtime) plays it in a fresh copy of that world with
the real tools.  The episode passes when, checked by code:

* it ends as the reference did: `solved` (or `given_up` for a task whose reference gives up);
* a solved answer states every declared fact (`meta["facts"]`: a booking reference, a
  temperature...) and every number it states is grounded in the agent's own observations
  (`multiagentllm.tools.replay.check_facts`, the check synthesis applies to its trajectories);
* the world's state afterwards (bookings, calendar events) equals the state the reference calls
  leave behind: the booking exists, nothing extra was booked.

A task is an instruction, not a trajectory: the synthesis engine writes several variants of one
instruction (`meta["instruction_id"]`: other wordings of the rationales, a recovery from a bad
call) played in the same world, and they are one task to the agent, so only the first is run.
Tasks whose tools the world does not have, or has with another schema (the engine's real-source
trajectories, which ran on tools simulated from BFCL's or StableToolBench's schemas), are left out
and counted (`unplayable`). `limit` then takes a seeded sample with equal shares per task family
(`group_of`), so a small limit measures every family rather than the first few instructions of
one. `SELECTION` names these rules in the suite's settings, so reports made under other rules are
recomputed.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from multiagentllm.agent.faults import total
from multiagentllm.agent.loop import Agent, AgentConfig
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Missing, Where
from multiagentllm.eval.generate import CachedLLM, System
from multiagentllm.eval.metrics import mean
from multiagentllm.eval.sampling import stratified_sample
from multiagentllm.io import SkipReport, read_trajectories
from multiagentllm.tools.replay import base_registry, check_facts, expected_state, fresh_for, world_state
from multiagentllm.types import Trajectory


def group_of(traj: Trajectory) -> str:
    return str(traj.meta.get("group") or traj.meta.get("family") or traj.source)


def judge_episode(reference: Trajectory, episode: Trajectory, status: str, state: dict) -> str | None:
    """None when the episode passes, else the first reason it does not."""
    if status != reference.outcome:
        return f"ended {status!r}, the task needs {reference.outcome!r}"
    if reference.outcome == "solved":
        episode.meta["facts"] = reference.meta.get("facts", [])
        reason = check_facts(episode)
        if reason:
            return reason
    if state != expected_state(reference):
        return "the world state differs from the reference (missing or extra bookings/events)"
    return None


SELECTION = "one per instruction, world tools only, equal shares per family"


def task_key(traj: Trajectory) -> str:
    return str(traj.meta.get("instruction_id") or traj.id)


# Which tasks of a file are run: the families held out of training (the synthesis engine marks
# their tasks meta.split == "test"), the families seen in training (only meaningful on a file of
# held-out instructions, such as the data build's DATA/trajectories/test.jsonl), or every task.
FAMILIES = ("held_out", "seen", "all")
_WHICH = {"held_out": "of the held-out families (meta.split == 'test')",
          "seen": "of the training families (no meta.split == 'test')", "all": ""}


def playable_tasks(path: str | os.PathLike, bad: SkipReport, *,
                   families: str = "held_out") -> tuple[list[Trajectory], Counter]:
    """The file's tasks of `families`, one trajectory per instruction, and per group the number
    left out because the world cannot play them: a task offers tools the world does not have, or
    has under the same name with another schema (the engine's real-source trajectories ran on
    tools simulated from BFCL's or StableToolBench's schemas; BFCL has its own `book_hotel` and
    `convert_currency`). Those benchmarks are measured on their own."""
    if families not in FAMILIES:
        raise ValueError(f"families must be one of {', '.join(FAMILIES)}, got {families!r}")
    registry = base_registry()
    world = {schema["name"]: schema for schema in registry.schemas(registry.names)}
    tasks: dict[str, Trajectory] = {}
    unplayable: Counter = Counter()
    for traj in read_trajectories(path, skip_bad=True, report=bad):
        held_out = traj.meta.get("split") == "test"
        if families != "all" and held_out != (families == "held_out"):
            continue
        if all(world.get(tool.get("name")) == tool for tool in traj.tools):
            tasks.setdefault(task_key(traj), traj)
        else:
            unplayable[group_of(traj)] += 1
    return list(tasks.values()), unplayable


def benchmark_name(families: str) -> str:
    return "passrate" if families == "held_out" else f"passrate_{families}"


FAMILIES_OF = {benchmark_name(f): f for f in FAMILIES}  # benchmark name -> families


def sample_tasks(path: str | os.PathLike, bad: SkipReport, *, families: str = "held_out", limit: int | None = None,
                 seed: int = 0) -> tuple[list[Trajectory], Counter]:
    """The tasks `evaluate_passrate` runs (the playable ones of `families`; with `limit`, a seeded
    sample with equal shares per family) and the unplayable counts; a ValueError when none is."""
    tasks, unplayable = playable_tasks(path, bad, families=families)
    if not tasks:
        why = f" ({sum(unplayable.values())} use tools the synthetic world does not have)" if unplayable else ""
        raise ValueError(f"{path}: no playable tasks {_WHICH[families]}{why}".rstrip()
                         + ("; --families all runs every task" if families != "all" else ""))
    return stratified_sample(tasks, limit, seed, stratum=group_of), unplayable


def evaluate_passrate(path: str | os.PathLike, system: System, *, limit: int | None = None,
                      cache: str | os.PathLike | None = None, families: str = "held_out",
                      max_steps: int = AgentConfig.max_steps, seed: int = 0, progress: bool = True) -> tuple[dict[str, Any], list[dict]]:
    from tqdm import tqdm

    bad = SkipReport()
    tasks, unplayable = sample_tasks(path, bad, families=families, limit=limit, seed=seed)
    llm = CachedLLM(system.llm, cache, namespace=system.name)
    records, groups = [], defaultdict(list)
    for ref in tqdm(tasks, desc="episodes", unit="task", disable=not progress):
        registry = fresh_for(ref)
        registry.add_toolset("task", ref.tool_names)
        agent = Agent(llm, registry, system.episode_config(max_steps=max_steps), single_mode=system.single)
        result = agent.run(ref.instruction, toolset="task", episode_id=ref.id)
        reason = judge_episode(ref, result.trajectory, result.status, world_state(registry))
        groups[group_of(ref)].append(reason is None)
        records.append({"id": ref.id, "group": group_of(ref), "passed": reason is None, "reason": reason or "",
                        "status": result.status, "answer": result.answer,
                        "calls": [c.to_dict() for c in result.trajectory.calls],
                        "faults": result.trajectory.meta["faults"]})
    passed = [r["passed"] for r in records]
    report = {"benchmark": benchmark_name(families), "families": families, "data": [str(path)],
              "n": len(records), "seed": seed, "pass_rate": mean(passed),
              "groups": {g: {"n": len(v), "pass_rate": mean(v)} for g, v in sorted(groups.items())},
              "statuses": dict(sorted(Counter(r["status"] for r in records).items())),
              "faults": total(r["faults"] for r in records),
              "bad_items": bad.skipped, "bad_examples": bad.examples, "unplayable": dict(sorted(unplayable.items()))}
    return report, records


def item_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures one per-item record carries (what `eval paired` compares)."""
    return {"pass_rate": float(bool(record["passed"]))}


# --- the benchmarks in the suite -----------------------------------------------------------------

DEFAULT_SYNTH = Path("out") / "synth" / "trajectories.jsonl"


def find_held_out(where: Where, limit: int | None) -> Items:
    """The synthesized tasks of the families held out of training (--synth, else DEFAULT_SYNTH)."""
    synth = where.synth or DEFAULT_SYNTH
    if not synth.exists():
        raise Missing(f"{synth} not found; run `umi data synth --out out/synth` or pass --synth FILE",
                      optional=where.synth is None)
    return Items([synth], [synth], limit, {"seed": where.seed, "selection": SELECTION})


def find_seen(where: Where, limit: int | None) -> Items:
    """New instructions of the training families, from the data build's test split."""
    test = where.test_split()
    if not playable_tasks(test, SkipReport(), families="seen")[0]:
        raise Missing(f"{test} has no task of the training families that the synthetic world can play",
                      hint=" (built without `--synthetic`?)")
    return Items([test], [test], limit, {"seed": where.seed, "selection": SELECTION})


def run(items: Items, system: System, cache: Path | None, batch_size: int = 0, *, families: str = "held_out",
        max_steps: int = AgentConfig.max_steps):
    """The agent loop sends one prompt at a time: `batch_size` does not apply."""
    report, records = evaluate_passrate(items.inputs[0], system, limit=items.limit, cache=cache,
                                        seed=items.extra.get("seed", 0), families=families, max_steps=max_steps)
    return report, records, None


def _run_seen(items: Items, system: System, cache: Path | None, batch_size: int = 0):
    return run(items, system, cache, batch_size, families="seen")


BENCHMARKS = (
    Benchmark("passrate_seen", "passrate", (("pass_rate", "Pass rate (seen families)"),), find_seen, _run_seen,
              item_figures=item_figures),
    Benchmark("passrate", "passrate", (("pass_rate", "Pass rate (new families)"),), find_held_out, run,
              item_figures=item_figures),
)
