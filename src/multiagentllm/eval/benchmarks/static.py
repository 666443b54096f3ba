"""Step-level ("static") evaluation, as in the alpha-UMi paper.

At every step of a reference trajectory the system gets the gold history and writes the next
output: the planner its decision (Plan ACC), the caller its call given the gold rationale
(Act. EM, Hallu, Arg. F1), the summarizer the final answer after the gold history (ROUGE-L).
Metrics are reported overall and per test group (`meta["group"]`, else the trajectory's source).

Reads canonical trajectory JSONL, or the alpha-UMi `conversations` format (detected from the
first record) through `multiagentllm.data.loaders.alpha_umi`.  A test item that does not parse is
counted and reported with its file and line, never silently dropped.  The report's `read_rules`
says how many test records (and turns) each reading rule of the loaders touched: planner turns
without a `Next:` label scored as calls, thoughts joined to the next decision, restart prompts
kept out of the history (see the alpha_umi loader).

In the suite the benchmark runs on a seeded sample of the held-out test split, stratified by
source with equal shares (a source with fewer rows gives the rest to the others), written once to
`RUN_DIR/static-test-sample.jsonl`: `--limit-static 100` measures every source, not the first 100
rows of one, and a rerun measures the same trajectories.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from multiagentllm.agent.faults import call_fault, total
from multiagentllm.data.loaders.alpha_umi import load_alpha_umi
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Where, file_fingerprint, read_object
from multiagentllm.eval.generate import Generator, Request, System
from multiagentllm.eval.metrics import action_em, argument_f1, hallucinated, mean, plan_correct, rouge_l
from multiagentllm.eval.sampling import stratified_sample
from multiagentllm.paths import portable
from multiagentllm.io import (
    DataError, SkipReport, iter_jsonl, json_lines, read_trajectories, require_records, write_json, write_jsonl,
)
from multiagentllm.roles import FormatError, caller, planner, summarizer
from multiagentllm.roles.registry import TRIO
from multiagentllm.types import Trajectory

METRICS = ("plan_acc", "act_em", "hallu", "arg_f1", "rouge_l")
READ_RULES = ("unlabelled_calls", "joined_thoughts", "restart_prompts")


def _first_record(path: Path) -> Any:
    """The first line's JSON value, or None (the line does not read: a JSON array starts `[`)."""
    for _, obj in json_lines(path):
        return None if isinstance(obj, DataError) else obj
    return None


def load_test_trajectories(path: str | os.PathLike, report: SkipReport) -> list[Trajectory]:
    """Canonical JSONL or the alpha-UMi `conversations` format; bad items counted in `report`.
    A file that gives no trajectory (empty, or every item bad) is a `DataError` that says so."""
    path = Path(path)
    skipped_before = report.skipped
    trajs = _load(path, report)
    require_records(path, len(trajs), report, skipped_before, what="test trajectories")
    return trajs


def _load(path: Path, report: SkipReport) -> list[Trajectory]:
    first = _first_record(path)
    alpha_umi = isinstance(first, dict) and ("conversations" in first or "chains" in first
                                             or {"history", "target"} <= set(first))
    if alpha_umi or (first is None and path.suffix == ".json"):  # JSONL, or one JSON array
        return [t for t in load_alpha_umi(path, skip_bad=True, report=report) if isinstance(t, Trajectory)]
    return list(read_trajectories(path, skip_bad=True, report=report))


def read_rules(trajs: list[Trajectory]) -> dict[str, dict[str, int]]:
    """For each reading rule a loader counted in the trajectories' meta: the records it touched
    and how many times in all (rules no trajectory counts are left out)."""
    return {rule: {"records": sum(bool(t.meta.get(rule)) for t in trajs),
                   "turns": sum(int(t.meta.get(rule) or 0) for t in trajs)}
            for rule in READ_RULES if any(rule in t.meta for t in trajs)}


def group_of(traj: Trajectory) -> str:
    return str(traj.meta.get("group") or traj.source)


@dataclass
class _Case:
    traj: Trajectory
    step: int
    turn: str
    request: Request


def _cases(gen: Generator, trajs: list[Trajectory]) -> list[_Case]:
    cases = []
    for traj in trajs:
        for t, step in enumerate(traj.steps):
            history = traj.steps[:t]
            key = f"{traj.id}@{t}"
            prompt = gen.system.prompt("planner", traj.instruction, traj.tools, history)
            cases.append(_Case(traj, t, "planner", Request(key, "planner", prompt,
                                                           gen.system.grammar("planner", traj.tools))))
            if step.next == "caller":
                prompt = gen.system.prompt("caller", traj.instruction, traj.tools, history, step.rationale)
                cases.append(_Case(traj, t, "caller", Request(key, "caller", prompt,
                                                              gen.system.grammar("caller", traj.tools))))
            elif step.next == "summarizer" and traj.answer:
                prompt = gen.system.prompt("summarizer", traj.instruction, traj.tools, traj.steps[: t + 1])
                cases.append(_Case(traj, t, "summarizer", Request(key, "summarizer", prompt)))
    return cases


def _score(case: _Case, output: str) -> dict[str, Any]:
    """One case's record: the parsed prediction, its scores, and why it failed to parse."""
    step, rec = case.traj.steps[case.step], {"id": case.traj.id, "step": case.step, "turn": case.turn,
                                             "group": group_of(case.traj), "output": output}
    if case.turn == "caller":
        rec["fault"] = call_fault(output, case.traj.tools)
    try:
        if case.turn == "planner":
            _, predicted = planner.parse(output)
            rec.update(predicted=predicted, reference=step.next)
            rec["plan_acc"] = plan_correct(predicted, step.next)
        elif case.turn == "caller":
            call = caller.parse(output)
            rec.update(predicted=call.to_dict(), reference=step.action.to_dict())
            rec.update(act_em=action_em(call, step.action), hallu=hallucinated(call, case.traj.tool_names),
                       arg_f1=argument_f1(call.arguments, step.action.arguments))
        else:
            answer = summarizer.parse(output)
            rec.update(predicted=answer, reference=case.traj.answer, rouge_l=rouge_l(answer, case.traj.answer))
    except FormatError as e:
        rec["reason"] = str(e)
        zero = {"planner": {"plan_acc": 0.0}, "caller": {"act_em": 0.0, "hallu": 0.0, "arg_f1": 0.0},
                "summarizer": {"rouge_l": 0.0}}[case.turn]
        rec.update(zero)
    return rec


def item_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures one per-step record carries (what `eval paired` compares)."""
    return {m: float(record[m]) for m in METRICS if m in record}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {m: mean(r[m] for r in records if m in r) for m in METRICS}
    out["counts"] = {turn: sum(r["turn"] == turn for r in records) for turn in TRIO}
    out["unparsed"] = sum("reason" in r for r in records)
    out["faults"] = total(Counter({"caller_outputs": 1, **({r["fault"]: 1} if r.get("fault") else {})})
                          for r in records if r["turn"] == "caller")
    return out


def evaluate_static(path: str | os.PathLike, gen: Generator, *, limit: int | None = None
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Evaluate every step of the first `limit` trajectories; return (report, per-step records)."""
    bad = SkipReport()
    trajs = load_test_trajectories(path, bad)
    if limit is not None:
        trajs = trajs[:limit]
    cases = _cases(gen, trajs)
    outputs = gen.run([c.request for c in cases], desc=f"{Path(path).stem} steps")
    records = [_score(c, o) for c, o in zip(cases, outputs)]
    by_group: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_group[r["group"]].append(r)
    report = {"benchmark": "static", "data": [str(path)], "n": len(trajs), **summarize(records),
              "groups": {g: {"n": len({r["id"] for r in rs}), **summarize(rs)} for g, rs in sorted(by_group.items())},
              "bad_items": bad.skipped, "bad_examples": bad.examples, "read_rules": read_rules(trajs)}
    return report, records


# --- the benchmark in the suite ------------------------------------------------------------------

SAMPLE = "static-test-sample.jsonl"


def static_sample(test: Path, out: Path, limit: int | None, seed: int, console: Console) -> Path:
    """RUN_DIR/static-test-sample.jsonl, written once and reused while the test split, the limit
    and the seed are the same (its recipe is kept beside it, in static-test-sample.json)."""
    sample, recipe_path = out / SAMPLE, out / SAMPLE.replace(".jsonl", ".json")
    recipe = {"test": file_fingerprint(test), "limit": limit, "seed": seed}
    old = read_object(recipe_path) if sample.exists() else None
    if old is not None:
        if {k: old.get(k) for k in recipe} == recipe:
            return sample
        console.print("static: the test split, --limit-static or --seed changed; sampling again")
    rows = [row for _, row in iter_jsonl(test)]
    chosen = stratified_sample(rows, limit, seed)
    by_source = Counter(str(r.get("source")) if isinstance(r, dict) else "?" for r in chosen)
    write_jsonl(sample, chosen)
    write_json(recipe_path, {**recipe, "path": portable(test), "n": len(chosen),
                             "by_source": dict(sorted(by_source.items()))})
    console.print(f"static: {len(chosen)} of {len(rows)} test trajectories ("
                  + ", ".join(f"{s} {n}" for s, n in sorted(by_source.items())) + f") -> {escape(str(sample))}")
    return sample


def find(where: Where, limit: int | None) -> Items:
    test = where.test_split()
    sample = static_sample(test, where.out, limit, where.seed, where.console)
    return Items([sample], [test], limit, {"seed": where.seed})


def run(items: Items, system: System, cache: Path | None, batch_size: int = 0):
    gen = Generator(system, cache=cache, batch_size=batch_size)
    report, records = evaluate_static(items.inputs[0], gen, limit=items.limit)
    return report, records, gen


BENCHMARKS = (Benchmark("static", "static", (("plan_acc", "Plan ACC"), ("act_em", "Act. EM"), ("hallu", "Hallu"),
                                             ("arg_f1", "Arg. F1"), ("rouge_l", "R-L")), find, run,
                        item_figures=item_figures, item_key=lambda r: (r["id"], r["step"], r["turn"])),)
