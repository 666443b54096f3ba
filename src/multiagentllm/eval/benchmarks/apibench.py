"""APIBench evaluation (Gorilla's protocol) of an alpha-UMi trio or a single-LLM baseline.

How the agent answers an APIBench question: it gets the question as the instruction and, as
its tools, the hub's call forms (the most common API functions of the hub's database, e.g.
`torch.hub.load(repo_or_dir, model, pretrained)`; never the question's own API entry), and runs
as `umi run` runs it (`episodes`: the runtime's loop and policy).  The planner decides; if it
chooses `Caller`, the first call the runtime accepts (`Action` + `Action Input`) is rendered as
Python source (`torch.hub.load('repo', 'model', pretrained=True)`) and that is the
answer.  If the planner chooses `Summarizer`, the summarizer's text is the answer and its API
call is read from it as Gorilla reads free text.  Both systems go through exactly this path.

The answer is judged by `apibench_ast.judge` against the hub's database: the hub's
`data/api/*_api.jsonl` plus the API entries (`api_data`) of the split's own questions, which are
documented APIs too (three Hugging Face references are missing from the API file).

In the suite each hub is a benchmark of its own (`BENCHMARKS`), read from Gorilla's APIBench folder
under the datasets root; the Hugging Face and TensorFlow hubs run only when named with `--benchmarks`.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Any

from multiagentllm.agent.faults import total
from multiagentllm.data.loaders import CallItem
from multiagentllm.data.loaders.apibench import api_database_path, load_apibench
from multiagentllm.eval.apibench_ast import CORRECT, HALLUCINATION, ApiDatabase, extract_code, judge
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Missing, Where
from multiagentllm.eval.episodes import POLICY, Task, run_episodes
from multiagentllm.eval.generate import Generator, System
from multiagentllm.eval.metrics import mean
from multiagentllm.io import SkipReport, require_records
from multiagentllm.tools.call_syntax import call_to_toolcall, reference_calls, toolcall_to_code
from multiagentllm.tools.gorilla import load_api_database

MAX_TOOLS = 6


def build_database(split: str | os.PathLike, items: list[CallItem]) -> ApiDatabase:
    """The hub's API file (when found beside the split) plus the questions' own API entries."""
    found = api_database_path(split)
    entries = load_api_database(found) if found else []
    entries = entries + [i.meta["api_data"] for i in items if isinstance(i.meta.get("api_data"), dict)
                         and isinstance(i.meta["api_data"].get("api_call"), str)]
    hub = items[0].meta["hub"] if items else "huggingface"
    return ApiDatabase(entries, hub)


def hub_tools(database: ApiDatabase, max_tools: int = MAX_TOOLS) -> list[dict[str, Any]]:
    """The hub's most used API functions as tools, parameters from their documented calls."""
    counts: Counter[str] = Counter()
    params: dict[str, dict[str, dict]] = defaultdict(dict)
    for entry in database.entries:
        calls = reference_calls(entry["api_call"])
        if not calls or not calls[0].name.replace(".", "").replace("_", "").isalnum():
            continue
        name = calls[0].name
        counts[name] += 1
        for key, value in call_to_toolcall(calls[0]).arguments.items():
            if not key.startswith("arg"):
                kind = {bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")
                params[name].setdefault(key, {"type": kind})
    tools = []
    for name, n in counts.most_common(max_tools):
        tools.append({"name": name, "description": f"Load a pretrained model or API of this hub with {name}.",
                      "parameters": {"type": "object", "properties": params[name], "required": []}})
    return tools


def answer_code(episode) -> str | None:
    """The API call the agent answered with: its first call, else the code in its answer."""
    if episode.calls:
        return toolcall_to_code(episode.calls[0])
    if episode.answer:
        return extract_code(episode.answer)
    return None


def evaluate_apibench(paths: list[str | os.PathLike], gen: Generator, *, limit: int | None = None,
                      max_tools: int = MAX_TOOLS) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run and judge every question of the given splits; return (report, per-item records)."""
    report_bad = SkipReport()
    records: list[dict[str, Any]] = []
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        skipped_before = report_bad.skipped
        items = list(load_apibench(path, skip_bad=True, report=report_bad))
        require_records(path, len(items), report_bad, skipped_before, what="questions")
        database = build_database(path, items)
        if limit is not None:
            items = items[: max(0, limit - len(records))]
        if not items:
            continue
        tools = hub_tools(database, max_tools)
        tasks = [Task(i.id, i.instruction, tools) for i in items]
        episodes = run_episodes(gen, tasks, max_calls=1, desc=Path(path).stem)
        for item, ep in zip(items, episodes):
            code = answer_code(ep)
            verdict = judge(code, database, item.meta["domain"])
            hub = item.meta["hub"]
            groups[hub].append(verdict.status)
            records.append({"id": item.id, "hub": hub, "answer": code, "status": verdict.status,
                            "reason": "; ".join([verdict.reason] + ep.errors).strip("; "),
                            "reference": item.meta["api_call"], "end": ep.end, "outputs": ep.outputs,
                            "faults": ep.faults})
    statuses = [r["status"] for r in records]
    report = {"benchmark": "apibench", "data": [str(p) for p in paths], "n": len(records),
              **_rates(statuses),
              "groups": {hub: {"n": len(s), **_rates(s)} for hub, s in sorted(groups.items())},
              "faults": total(r["faults"] for r in records),
              "bad_items": report_bad.skipped, "bad_examples": report_bad.examples}
    return report, records


def item_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures one per-item record carries (what `eval paired` compares)."""
    return {"accuracy": float(record["status"] == CORRECT), "hallucination": float(record["status"] == HALLUCINATION)}


def _rates(statuses: list[str]) -> dict[str, float | None]:
    return {"accuracy": mean(s == CORRECT for s in statuses),
            "hallucination": mean(s == HALLUCINATION for s in statuses),
            "no_answer": mean(s == "no_answer" for s in statuses)}


# --- the benchmarks in the suite: one per hub ------------------------------------------------------

DATA_DIR = ("gorilla", "data", "apibench")


def find(where: Where, limit: int | None, *, file: str) -> Items:
    """The hub's eval split, and its API database when found beside it."""
    split = where.root.joinpath(*DATA_DIR, file)
    if not split.exists():
        raise Missing(f"{split} not found (set UMI_DATA_ROOT to the datasets folder)")
    database = api_database_path(split)
    return Items([split], [split] + ([database] if database else []), limit)


def run(items: Items, system: System, cache: Path | None, batch_size: int = 0):
    gen = Generator(system, cache=cache, batch_size=batch_size)
    report, records = evaluate_apibench(items.inputs, gen, limit=items.limit)
    return report, records, gen


def hub(name: str, file: str, accuracy: str, hallucination: str, *, default: bool = True) -> Benchmark:
    return Benchmark(name, "apibench", (("accuracy", accuracy), ("hallucination", hallucination)),
                     partial(find, file=file), run, default, version=POLICY, item_figures=item_figures)


BENCHMARKS = (
    hub("apibench_torchhub", "torchhub_eval.json", "APIBench torchhub", "APIBench halluc."),
    hub("apibench_huggingface", "huggingface_eval.json", "APIBench huggingface", "APIBench huggingface halluc.",
        default=False),
    hub("apibench_tensorflow", "tensorflow_eval.json", "APIBench tensorflow", "APIBench tensorflow halluc.",
        default=False),
)
