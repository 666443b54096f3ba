"""Loaders for public tool-use datasets.

Every loader accepts any file of its format by path and yields what the source truthfully holds:

* `Trajectory`  -- a full episode (instruction, steps with observations, answer);
* `CallItem`    -- an instruction with its reference tool call(s), no observations (evaluation,
                   or a seed that synthesis turns into a trajectory by executing the calls);
* `ToolSpec`    -- a tool definition for the catalogue (OpenAI function schema).

`SOURCES` maps a source name (as used by `umi data build --sources`) to where its files live
under the data root and which loader reads them.  Loader modules are imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.io import SkipReport
from multiagentllm.types import ToolCall, Trajectory


@dataclass
class CallItem:
    """An instruction with reference call(s): `calls` is the gold sequence (may be parallel)."""

    id: str
    source: str
    instruction: str
    tools: list[dict[str, Any]]
    calls: list[ToolCall]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "instruction": self.instruction,
                "tools": self.tools, "calls": [c.to_dict() for c in self.calls], "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CallItem":
        return cls(id=d["id"], source=d["source"], instruction=d["instruction"], tools=d["tools"],
                   calls=[ToolCall(c["name"], c.get("arguments", {})) for c in d["calls"]],
                   meta=d.get("meta", {}))


@dataclass
class ToolSpec:
    """One tool definition for the catalogue."""

    source: str
    tool: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "tool": self.tool, "meta": self.meta}


Record = Trajectory | CallItem | ToolSpec
LoadFn = Callable[..., Iterator[Record]]


@dataclass(frozen=True)
class Source:
    """A named source: glob patterns under the data root, and the loader (module:function)."""

    name: str
    patterns: tuple[str, ...]
    loader: str  # "module:function" under multiagentllm.data.loaders
    kind: str  # what it yields: "trajectory", "call", "catalogue" (or a mix, comma-separated)
    description: str = ""

    def load_fn(self) -> LoadFn:
        module, fn = self.loader.split(":")
        return getattr(importlib.import_module(f"multiagentllm.data.loaders.{module}"), fn)

    def files(self, data_root: Path) -> list[Path]:
        found: list[Path] = []
        for pattern in self.patterns:
            found.extend(sorted(p for p in data_root.glob(pattern) if p.is_file()))
        return found

    def load(self, data_root: Path, *, skip_bad: bool = False,
             report: SkipReport | None = None) -> Iterator[Record]:
        fn = self.load_fn()
        for path in self.files(data_root):
            yield from fn(path, skip_bad=skip_bad, report=report)


SOURCES: dict[str, Source] = {s.name: s for s in [
    Source("toolbench", ("ToolBench/data_example/answer/G*_answer/*.json",), "toolbench:load_dfsdt",
           "trajectory", "ToolBench DFSDT answer trees (ChatGPT), G1/G2/G3 examples"),
    Source("toolbench_cot", ("ToolBench/toolbench/tooleval/results/default_evalset/*_CoT/G*.json",),
           "toolbench:load_tooleval_results", "call,trajectory",
           "ToolBench tooleval ChatGPT CoT answers: queries with the reference answer; trajectories "
           "only where the tool messages are intact (the shipped files cut them)"),
    Source("stabletoolbench", ("StableToolBench/solvable_queries/test_instruction/*.json",),
           "stabletoolbench:load_queries", "call,catalogue",
           "StableToolBench solvable queries: instruction + api_list (tool definitions)"),
    Source("apibench", ("gorilla/data/apibench/*_train.json",), "apibench:load_apibench", "call",
           "Gorilla APIBench train splits (instruction + API call), with data/api docs"),
    Source("apibench_eval", ("gorilla/data/apibench/*_eval.json",), "apibench:load_apibench", "call",
           "Gorilla APIBench eval splits"),
    Source("bfcl", tuple(f"gorilla/berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v[0-9]_{c}.json"
                         for c in ("simple", "simple_python", "multiple", "parallel", "parallel_multiple",
                                   "irrelevance")),
           "bfcl:load_bfcl", "call", "Berkeley Function Calling Leaderboard single-turn questions"),
    Source("apibank", ("API-Bank/api-bank/test-data/level-[12]-*.json",
                       "API-Bank/api-bank/test-data/level-3-batch-inf.json",
                       "API-Bank/api-bank/test-data/level-3.json",
                       "API-Bank/api-bank/training-data/lv3-*-train.json"),
           "apibank:load_apibank", "call,trajectory",
           "API-Bank level-1/2/3 API-Request items and the dialogues with API results and replies "
           "(test data marked split=test); lv3-train.json, the batch-inf -icl/-response files repeat these"),
    Source("sealtools", ("Seal-Tools/Seal-Tools_Dataset/dev.jsonl", "Seal-Tools/Seal-Tools_Dataset/test_*.jsonl",
                         "Seal-Tools/Seal-Tools_Dataset/train.jsonl", "Seal-Tools/Seal-Tools_Dataset/tool.jsonl"),
           "sealtools:load_sealtools", "call,catalogue",
           "Seal-Tools dev / test call lists (nested calls kept), and the tool.jsonl catalogue"),
    Source("toolalpaca", ("ToolAlpaca/data/eval_*.json", "ToolAlpaca/data/public_apis.json"),
           "toolalpaca:load_toolalpaca", "call,catalogue",
           "ToolAlpaca simulated and real eval sets (OpenAPI tools), and the public API list"),
    Source("nestful", ("NESTFUL/data/*/*-data.json", "NESTFUL/data_v2/*.jsonl"), "nestful:load_nestful", "call",
           "NESTFUL nested call sequences (v1 data + sibling spec files, or v2 with tools per sample)"),
    Source("tooltalk", ("ToolTalk/data/easy/*.json", "ToolTalk/data/tooltalk/*.json"),
           "tooltalk:load_tooltalk", "trajectory", "ToolTalk multi-turn conversations"),
    Source("taubench_retail", ("tau-bench/tau_bench/envs/retail/tasks_train.py",), "taubench:load_taubench",
           "trajectory", "tau-bench retail training tasks played against its database: look-ups, the gold "
           "writes, state-verified (the dev tasks are `umi eval taubench`)"),
    Source("alpha_umi", (), "alpha_umi:load_alpha_umi", "trajectory",
           "alpha-UMi released role data ({tools, history, input, target} or conversations); by path"),
    Source("glaive", ("LLaMA-Factory/data/glaive_toolcall_en_demo.json",), "chat:load_sharegpt", "trajectory",
           "glaive function-calling dialogues in LLaMA-Factory's ShareGPT format (one trajectory per reply)"),
    Source("fireact", ("FireAct/data/finetune/gpt_format/multitask.jsonl",), "fireact:load_fireact", "trajectory",
           "FireAct ReAct trajectories (thought, search/lookup, real Wikipedia observations, finish), rewarded only"),
    Source("fireact_multimethod", ("FireAct/data/finetune/gpt_format/multitask_multimethod.jsonl",),
           "fireact:load_fireact", "trajectory",
           "FireAct ReAct + CoT + Reflexion trajectories (rewarded only; 5 malformed rows: use --skip-bad)"),
    Source("callnavi", ("CallNavi/Dataset/Questions/*.json", "CallNavi/Dataset/APISchema/*.json"),
           "callnavi:load_callnavi", "call,catalogue",
           "CallNavi questions with gold API sequences among all APIs of their domain, and the API schemas "
           "(5 questions name an API their domain does not define: use --skip-bad)"),
    Source("apizoo", ("gorilla/data/apizoo/*.json", "gorilla/data/apizoo/*.JSON"), "apizoo:load_apizoo", "catalogue",
           "Gorilla API Zoo community API docs (about 4,000) for the catalogue (4 files are not valid JSON: "
           "use --skip-bad to keep the records before each error)"),
    Source("sharegpt", (), "chat:load_sharegpt", "trajectory",
           "your own LLaMA-Factory ShareGPT tool-call rows (conversations + tools); by path"),
    Source("openai_chat", (), "chat:load_openai", "trajectory",
           "your own OpenAI chat rows (messages with tool_calls + tools); by path"),
]}


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}")
    return SOURCES[name]
