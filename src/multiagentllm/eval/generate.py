"""Batched, cached generation for the evaluators.

Every evaluator turns its work into `Request`s (an item key, the turn being written, the prompt)
and hands them to `Generator.run`, which

* answers from the cache what an earlier (possibly interrupted) run already generated: the cache
  is a JSONL file keyed by item key + model role + turn + a hash of the prompt, appended after
  every batch, so killing a run loses at most one batch;
* sends the rest to the model in batches sorted by prompt length (less padding), or, with
  `batch_size=1`, one at a time in request order: the steps of one item then reach the model
  back to back, so a runner with prefix reuse (the lean runner) prefills only each step's new
  tokens, and prompt-lookup drafting applies (see benchmarks/bench_eval.py for what each costs);
* uses the turn's own stop strings and token budget from the role registry (`roles.registry`), and
  the model role "single" for every turn when the system is the single-LLM baseline.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Any
from pathlib import Path

from multiagentllm.agent.loop import AgentConfig
from multiagentllm.roles import registry
from multiagentllm.roles.grammar import PLANNER, Grammar, caller_grammar
from multiagentllm.types import LLM, Step


@dataclass(frozen=True)
class Request:
    key: str  # the item (and step) this prompt belongs to
    turn: str  # planner | caller | summarizer: which role's turn is written
    prompt: str
    grammar: Grammar | None = None  # the turn's output grammar, when decoding is constrained


@dataclass
class System:
    """What is evaluated: an LLM, whether it is the single-LLM baseline, and the agent config its
    episodes run with: the runtime's safeguards (grammar-constrained turns, tool retrieval, the
    loop guard, answer grounding) and limits; each benchmark sets its own step limit and no wall
    time."""

    llm: LLM
    single: bool = False
    name: str = "alpha-umi"
    agent: AgentConfig = field(default_factory=AgentConfig)

    def episode_config(self, **limits: Any) -> AgentConfig:
        """The agent config of one benchmark episode: this system's, with `limits` (`max_steps`)
        and no wall-time limit (results must not depend on the machine's load)."""
        return replace(self.agent, max_seconds=None, **limits)

    def grammar(self, turn: str, tools: list[dict]) -> Grammar | None:
        """The grammar `turn` decodes under, or None (unconstrained, or a free-text turn)."""
        if not self.agent.constrain:
            return None
        return {"planner": PLANNER, "caller": caller_grammar(tools)}.get(turn)

    def model_role(self, turn: str) -> str:
        return registry.model_role(turn, self.single)

    def prompt(self, turn: str, instruction: str, tools: list[dict], steps: list[Step],
               rationale: str | None = None) -> str:
        """The turn's prompt, rendered only by `multiagentllm.roles` (as in training and the agent)."""
        return registry.prompt(turn, instruction, tools, steps, rationale, single=self.single)


def auto_batch_size(llm: LLM) -> int:
    """Prompts per `complete` call when none is chosen: 1 for an in-process model on a CPU,
    where prefix reuse and drafting beat padded batches (3.1x in benchmarks/bench_eval.py),
    8 elsewhere (a GPU, or a server that batches concurrent requests itself)."""
    roles = getattr(llm, "roles", None)
    if not isinstance(roles, dict) or not roles:
        return 8
    try:
        model = next(iter(roles.values())).model
        return 1 if next(model.parameters()).device.type == "cpu" else 8
    except (AttributeError, StopIteration, TypeError):
        return 8


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:20]


class Generator:
    """Runs requests through a system's LLM in batches, with a resumable JSONL cache."""

    def __init__(self, system: System, *, cache: str | os.PathLike | None = None, batch_size: int | None = None,
                 progress: bool = True):
        if batch_size is None or batch_size == 0:
            batch_size = auto_batch_size(system.llm)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (or 0 for automatic), got {batch_size}")
        self.system, self.batch_size, self.progress = system, batch_size, progress
        self.cache_path = Path(cache) if cache else None
        self.cached: dict[str, str] = {}
        self.generated = self.reused = 0
        self.unconstrained = False  # grammars were asked for but the backend cannot apply them
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            if self.cache_path.exists():
                self._load()

    def _load(self) -> None:
        with self.cache_path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    self.cached[row["key"]] = row["output"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by an interruption: generate it again

    def cache_key(self, request: Request) -> str:
        key = f"{request.key}|{self.system.model_role(request.turn)}|{request.turn}|{prompt_hash(request.prompt)}"
        return key if request.grammar is None else f"{key}|{request.grammar.key}"

    def run(self, requests: list[Request], desc: str = "generating") -> list[str]:
        """One output per request, in request order."""
        keys = [self.cache_key(r) for r in requests]
        todo = list({k: r for k, r in zip(keys, requests) if k not in self.cached}.items())
        if self.batch_size > 1:
            todo.sort(key=lambda kv: len(kv[1].prompt))
        self.reused += len(requests) - len(todo)
        if todo:
            self._generate(todo, desc)
        return [self.cached[k] for k in keys]

    def _generate(self, todo: list[tuple[str, Request]], desc: str) -> None:
        from tqdm import tqdm

        by_turn: dict[str, list[tuple[str, Request]]] = {}
        for key, request in todo:
            by_turn.setdefault(request.turn, []).append((key, request))
        bar = tqdm(total=len(todo), desc=desc, unit="prompt", disable=not self.progress, leave=False)
        try:
            for turn, work in by_turn.items():
                for start in range(0, len(work), self.batch_size):
                    batch = work[start:start + self.batch_size]
                    grammars = [r.grammar for _, r in batch]
                    extra = {}
                    if any(g is not None for g in grammars):
                        if getattr(self.system.llm, "constrains", False):
                            extra["constraint"] = grammars
                        elif not self.unconstrained:
                            self.unconstrained = True  # reported with the run
                            warnings.warn(f"{self.system.name}: this model backend cannot constrain "
                                          "decoding; its turns are generated without grammars", stacklevel=2)
                    outputs = self.system.llm.complete(
                        [r.prompt for _, r in batch], role=self.system.model_role(turn),
                        max_new_tokens=registry.max_new_tokens(turn), stop=registry.stop(turn), **extra)
                    if len(outputs) != len(batch):
                        raise RuntimeError(f"the model returned {len(outputs)} outputs for {len(batch)} prompts")
                    self.store([(key, out) for (key, _), out in zip(batch, outputs)])
                    bar.update(len(batch))
        finally:
            bar.close()

    def store(self, results: list[tuple[str, str]]) -> None:
        """Remember outputs, and append them to the cache file at once (an interrupted run
        keeps everything stored before it)."""
        for key, out in results:
            self.cached[key] = out
        self.generated += len(results)
        if self.cache_path is not None:
            with self.cache_path.open("a", encoding="utf-8") as sink:
                for key, out in results:
                    sink.write(json.dumps({"key": key, "output": out}, ensure_ascii=False) + "\n")


class CachedLLM:
    """An `LLM` wrapper with the same resumable JSONL cache, for code that calls the model
    through its `complete` (the agent loop in the pass-rate and judged-call evaluations);
    `store`: the `Generator` whose cache and counts it shares (else one of its own on `cache`)."""

    def __init__(self, llm: LLM, cache: str | os.PathLike | None = None, namespace: str = "",
                 store: Generator | None = None):
        self.llm, self.namespace = llm, namespace
        self.gen = store or Generator(System(llm), cache=cache, progress=False)
        self.count_tokens = getattr(llm, "count_tokens", None)

    @property
    def constrains(self) -> bool:
        return bool(getattr(self.llm, "constrains", False))

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int, stop: list[str],
                 constraint: Any = None) -> list[str]:
        """`constraint`: one grammar for every prompt, or one (or None) per prompt."""
        grammars = constraint if isinstance(constraint, list) else [constraint] * len(prompts)
        # A constrained output is another generation than a free one: the grammar is in the key.
        keys = [f"{self.namespace}|{role}|{max_new_tokens}|{prompt_hash(p)}" + (f"|{g.key}" if g else "")
                for p, g in zip(prompts, grammars)]
        todo = [(k, p, g) for k, p, g in zip(keys, prompts, grammars) if k not in self.gen.cached]
        if todo:
            todo_grammars = [g for *_, g in todo]
            extra = {"constraint": todo_grammars} if any(todo_grammars) else {}
            outs = self.llm.complete([p for _, p, _ in todo], role=role, max_new_tokens=max_new_tokens,
                                     stop=stop, **extra)
            self.gen.store(list(zip((k for k, *_ in todo), outs)))
        self.gen.reused += len(prompts) - len(todo)
        return [self.gen.cached[k] for k in keys]
