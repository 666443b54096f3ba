"""Real instructions from public sources, turned into full trajectories by executing their gold calls.

* APIBench (torchhub train): the gold `torch.hub.load(...)` runs against the Gorilla hub tool,
  whose observation reports what the call would load, from the API documentation.
* BFCL (non-live), Seal-Tools (dev), API-Bank: the gold calls run as simulated tools (responses
  from the source's response schema where it has one), with rationales and answers added; a BFCL
  irrelevance question becomes a give-up trajectory.
* StableToolBench (test queries): the relevant APIs run as simulated RapidAPI tools with the
  documented example arguments.

Sources that are public *evaluation* sets (BFCL, StableToolBench test groups, API-Bank test-data)
are marked `meta["split"] = "test"`, so training never sees the benchmark the project reports on.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, get_source
from multiagentllm.data.loaders.jsonfiles import read_json
from multiagentllm.data.synth.verify import verify
from multiagentllm.io import iter_jsonl
from multiagentllm.tools import ToolRegistry
from multiagentllm.tools.gorilla import GorillaHub, GorillaTool
from multiagentllm.tools.rapidapi import rapidapi_tool
from multiagentllm.tools.simulated import SimulatedTool
from multiagentllm.tools.world import stable_rng
from multiagentllm.types import Step, ToolCall, Trajectory

# source name -> (which of its files, split for the trajectories)
REAL_SOURCES = {"apibench": ("torchhub_train", "train"), "sealtools": ("dev.jsonl", "train"),
                "apibank": ("training-data", "train"), "bfcl": ("", "test"),
                "stabletoolbench": ("", "test")}
_WHY_CALL = ["The request matches {tool}: {desc} I'll call it with {args}.",
             "{tool} fits this request ({desc}), so I call it with {args}.",
             "To do this I need {tool}, which {desc_l} Arguments: {args}.",
             "The right tool here is {tool}. {desc} Calling it with {args}."]
_WHY_MORE = ["That part is done; the request also needs {tool} with {args}.",
             "Next, {tool} with {args} covers the remaining part.",
             "One more call: {tool} with {args}."]
_WHY_DONE = ["The tool results cover the request, so I can answer.", "All requested calls returned; time to answer.",
             "I have the results I need."]


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= n else text[: n - 1].rstrip() + "…"
    return text if text.endswith((".", "…")) else text + "."


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items()) or "no arguments"


def _leaf(value: Any) -> str | None:
    """A short scalar from an observation, for the answer to state."""
    if isinstance(value, dict):
        for v in value.values():
            found = _leaf(v)
            if found:
                return found
    elif isinstance(value, list):
        return _leaf(value[0]) if value else None
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 60:
        return str(value)
    return None


def _summary(data: Any) -> str:
    """Top-level fields of a result as "key: value" pairs (at most four, values clipped)."""
    if not isinstance(data, dict):
        return _clip(json.dumps(data, ensure_ascii=False), 100).rstrip(".")
    pairs = []
    for key, value in list(data.items())[:4]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        pairs.append(f"{key}: {text if len(text) <= 50 else text[:49] + '…'}")
    return "; ".join(pairs)


def sealtools_templates(data_root: Path) -> dict[str, Any]:
    """Response schemas of the Seal-Tools catalogue, by tool name."""
    path = data_root / "Seal-Tools/Seal-Tools_Dataset/tool.jsonl"
    out: dict[str, Any] = {}
    if path.exists():
        for _, row in iter_jsonl(path):
            if isinstance(row, dict) and isinstance(row.get("responses"), dict):
                out[row["api_name"]] = row["responses"]
    return out


def trajectory_from_item(item: CallItem, registry: ToolRegistry, rng: random.Random,
                         split: str) -> Trajectory:
    """Execute the item's gold calls and wrap them with rationales and a grounded answer."""
    steps: list[Step] = []
    facts: list[str] = []
    results: list[str] = []
    tools = {t["name"]: t for t in item.tools}
    for i, call in enumerate(item.calls):
        tool = tools[call.name]
        desc = _clip(tool.get("description") or call.name)
        why = rng.choice(_WHY_CALL if i == 0 else _WHY_MORE).format(
            tool=call.name, desc=desc, desc_l=desc[0].lower() + desc[1:], args=_args_text(call.arguments))
        obs = registry.call(call.name, call.arguments, timeout=None)
        steps.append(Step(why, "caller", ToolCall(call.name, call.arguments), obs.content))
        if obs.ok:
            if isinstance(obs.data, dict) and "loaded" in obs.data:
                fact = str(obs.data["loaded"])
                results.append(f"{call.name} loads {fact} ({obs.data.get('functionality') or obs.data.get('domain')})")
            else:
                fact = _leaf(obs.data) or ""
                results.append(f"{call.name} returned {_summary(obs.data)}")
            if fact:
                facts.append(fact)
    meta = {"family": f"real_{item.source}", "domain": item.source, "item_id": item.id, "facts": facts,
            "tags": ["real_instruction"]}
    if split != "train":
        meta["split"] = split
    if not item.calls:  # e.g. BFCL irrelevance: no offered tool fits
        names = ", ".join(tools) or "none"
        steps.append(Step(rng.choice([f"None of the offered tools ({names}) can do what is asked, so I give up.",
                                      f"The tools I have ({names}) do not fit this request; I cannot answer it with them."]),
                          "give_up"))
        return Trajectory(f"real-{item.id}", item.instruction, item.tools, steps, None, "given_up", item.source, meta)
    if not results:  # every gold call failed (e.g. the source gives no value for a required argument)
        steps.append(Step(rng.choice(["The calls returned errors and no other tool fits, so I cannot answer.",
                                      "Every attempt failed; rather than guess, I give up."]), "give_up"))
        meta["tags"].append("all_calls_failed")
        return Trajectory(f"real-{item.id}", item.instruction, item.tools, steps, None, "given_up", item.source, meta)
    steps.append(Step(rng.choice(_WHY_DONE), "summarizer"))
    answer = " ".join(f"{r[0].upper()}{r[1:]}." if not r.endswith(".") else r for r in results)
    if item.source == "apibench":
        answer = f"Use `{item.meta.get('api_call', '')}`. " + answer
    return Trajectory(f"real-{item.id}", item.instruction, item.tools, steps, answer or None, "solved",
                      item.source, meta)


def _registry(item: CallItem, hub: GorillaHub | None, templates: dict[str, Any]) -> ToolRegistry:
    registry = ToolRegistry(default_timeout=None)
    for schema in item.tools:
        if hub is not None and item.source == "apibench":
            registry.register(GorillaTool(schema, hub))
        else:
            registry.register(SimulatedTool(schema, templates.get(schema["name"])))
    return registry


def _stabletoolbench_items(path: Path) -> Iterator[tuple[CallItem, dict[str, Any]]]:
    for query in read_json(path):
        apis = query.get("api_list") or []
        tools = {t.name: t for t in (rapidapi_tool(a) for a in apis)}
        wanted = {(r[0], r[1]) for r in query.get("relevant APIs", [])}
        calls = []
        for api in apis:
            if (api.get("tool_name"), api.get("api_name")) in wanted:
                args = {p["name"]: p.get("default") for p in api.get("required_parameters") or []
                        if p.get("default") not in (None, "")}
                calls.append(ToolCall(rapidapi_tool(api).name, args))
        item = CallItem(f"stabletoolbench-{path.stem}-{query.get('query_id')}", "stabletoolbench",
                        query["query"], [t.schema for t in tools.values()], calls)
        yield item, {n: t.template for n, t in tools.items()}


def real_trajectories(data_root: Path, sources: list[str], seed: int, rejects: Counter) -> list[dict[str, Any]]:
    """Verified trajectories from the named real sources (missing files are skipped, counted)."""
    out = []
    hub = None
    for name in sources:
        pattern, split = REAL_SOURCES[name]
        if name == "stabletoolbench":
            pairs = ((it, tpl) for p in sorted((data_root / "StableToolBench/solvable_queries/test_instruction").glob("*.json"))
                     for it, tpl in _stabletoolbench_items(p))
        else:
            source = get_source(name)
            files = [f for f in source.files(data_root) if pattern in str(f)]
            shared = sealtools_templates(data_root) if name == "sealtools" else {}
            pairs = ((it, shared) for f in files for it in source.load_fn()(f, skip_bad=True) if isinstance(it, CallItem))
        if name == "apibench":
            hub = GorillaHub.from_files(sorted((data_root / "gorilla/data/api").glob("torchhub*_api.jsonl")))
        for item, templates in pairs:
            if any("API_call_" in json.dumps(c.arguments) for c in item.calls):
                rejects[f"{name}: nested call arguments"] += 1
                continue
            registry = _registry(item, hub, templates)
            traj = trajectory_from_item(item, registry, stable_rng(seed, item.id), split)
            reason = verify(traj, lambda t, item=item, templates=templates: _registry(item, hub, templates))
            if reason:
                rejects[f"{name}: {reason}"] += 1
                continue
            out.append(traj.to_dict())
    return out
