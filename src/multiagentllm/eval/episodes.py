"""Episodes for benchmarks whose calls are judged, not executed (APIBench, BFCL), run by the
runtime's own loop (`agent.loop.Agent`) with its own policy: a planner output without a decision
is retried for the decision, a caller output that does not parse or names a tool not offered is
a rejected call the planner re-plans from, the loop guard, retrieval and answer grounding apply
as configured (`System.agent`), and the limits are `AgentConfig`'s. So a benchmark figure is
the figure of the agent `umi run` runs.

The task's tools are `RecordedTools`: every call the agent makes is recorded and answered with a
fixed observation (`NOT_EXECUTED`); the `max_calls`-th call ends the episode (`CappedAgent`). The
recorded calls, and the answer when the planner chose `Summarizer`, are what the benchmark judges.

Generations go through the benchmark's `Generator` cache (`CachedLLM`), so a killed run resumes.
With its `batch_size` > 1 (a GPU or an endpoint) that many episodes run at once in threads, and
`Batcher` sends the prompts they wait on together as one batch; with 1 (a model in process on a CPU) the episodes run one after the other,
so each role's next prompt extends its previous one and the runner prefills only the new tokens.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from multiagentllm.agent.exits import EpisodeEnd, QueryError
from multiagentllm.agent.loop import Agent, AgentConfig
from multiagentllm.eval.generate import CachedLLM, Generator, System
from multiagentllm.tools.registry import Observation
from multiagentllm.types import LLM, ToolCall

NOT_EXECUTED = '{"status": "recorded; this benchmark does not execute calls"}'
# Names how these episodes are run, in the benchmarks' settings and cache names: reports and
# generations of the earlier, separate loop (a format error ended the episode) are recomputed.
POLICY = "agent.loop.Agent"


@dataclass
class Task:
    key: str
    instruction: str
    tools: list[dict[str, Any]]


@dataclass
class Episode:
    task: Task
    end: str  # the agent's status (agent.exits), `max_calls`, or `refused` (a query it does not take)
    calls: list[ToolCall] = field(default_factory=list)  # the recorded calls, rejected ones left out
    answer: str | None = None
    errors: list[str] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)  # raw model outputs, for the report
    faults: dict[str, int] = field(default_factory=dict)  # agent.faults counts


class CallLimit(EpisodeEnd):
    status = "max_calls"


class RecordedTools:
    """A task's tools for the agent (the registry interface it uses): calls are recorded, not run."""

    def __init__(self, tools: list[dict[str, Any]]):
        self.tools, self.made = tools, 0

    def schemas(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        return [t for t in self.tools if names is None or t["name"] in names]

    def toolset(self, name: str) -> list[str]:
        raise KeyError(f"a benchmark task has no tool set {name!r}")

    def call(self, name: str, arguments: dict[str, Any], *, timeout: float | None = None) -> Observation:
        self.made += 1
        return Observation(NOT_EXECUTED, ok=True)


class CappedAgent(Agent):
    """The runtime's agent, ended after its `max_calls`-th recorded call (a benchmark's cap: BFCL
    judges up to that many calls, APIBench the first). The cap is checked after a whole step, so
    the last call is logged, faults included, like every other."""

    def __init__(self, llm: LLM, tools: RecordedTools, config: AgentConfig, max_calls: int, **kwargs: Any):
        super().__init__(llm, tools, config, **kwargs)
        self.max_calls = max_calls

    def step(self) -> None:
        super().step()
        if self.tools.made >= self.max_calls:
            raise CallLimit(f"made {self.tools.made} calls")


class _Recorder:
    """One episode's view of the shared LLM, keeping its raw outputs."""

    def __init__(self, llm: Any):
        self.llm, self.outputs = llm, []
        self.constrains = bool(getattr(llm, "constrains", False))
        self.count_tokens = getattr(llm, "count_tokens", None)

    def complete(self, prompts: list[str], *, role: str, **kwargs: Any) -> list[str]:
        outs = self.llm.complete(prompts, role=role, **kwargs)
        self.outputs += [{"role": role, "output": out} for out in outs]
        return outs


@dataclass
class _Ask:
    prompts: list[str]
    key: tuple[str, int, tuple[str, ...]]  # role, token budget, stop strings
    constraint: Any
    out: list[str] | None = None
    error: BaseException | None = None


class Batcher:
    """An `LLM` shared by `running` agents in threads: once every running agent waits on the
    model, their prompts go out together, one `complete` call per role, budget and stop strings
    (greedy decoding gives each the output it would get alone)."""

    def __init__(self, llm: Any, running: int):
        self.llm, self.running = llm, running
        self.constrains = bool(getattr(llm, "constrains", False))
        self.count_tokens = getattr(llm, "count_tokens", None)
        self._ready = threading.Condition()
        self._waiting: list[_Ask] = []

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int, stop: list[str],
                 constraint: Any = None) -> list[str]:
        ask = _Ask(prompts, (role, max_new_tokens, tuple(stop)), constraint)
        with self._ready:
            self._waiting.append(ask)
            self._flush()
            while ask.out is None and ask.error is None:
                self._ready.wait()
        if ask.error is not None:
            raise ask.error
        return ask.out

    def leave(self) -> None:
        """A thread has no more episodes to run: the others no longer wait for it."""
        with self._ready:
            self.running -= 1
            self._flush()

    def _flush(self) -> None:
        if not self._waiting or len(self._waiting) < self.running:
            return
        asks, self._waiting = self._waiting, []
        groups: dict[tuple, list[_Ask]] = {}
        for ask in asks:
            groups.setdefault(ask.key, []).append(ask)
        for (role, budget, stop), group in groups.items():
            grammars = [a.constraint for a in group for _ in a.prompts]
            extra = {"constraint": grammars} if any(g is not None for g in grammars) else {}
            try:
                outs = self.llm.complete([p for a in group for p in a.prompts], role=role,
                                         max_new_tokens=budget, stop=list(stop), **extra)
            except BaseException as e:  # every waiting agent gets the error, none waits forever
                for a in group:
                    a.error = e
                continue
            start = 0
            for a in group:
                a.out, start = outs[start:start + len(a.prompts)], start + len(a.prompts)
        self._ready.notify_all()


def run_episode(llm: LLM, system: System, task: Task, max_calls: int) -> Episode:
    """One task, by the runtime's loop, with the task's tools recorded."""
    recorder = _Recorder(llm)
    agent = CappedAgent(recorder, RecordedTools(task.tools), system.episode_config(), max_calls,
                        single_mode=system.single)
    try:
        result = agent.run(task.instruction, episode_id=task.key)
    except QueryError as e:
        return Episode(task, "refused", errors=[f"query: {e}"])
    traj = result.trajectory
    errors = [f"{e['role']}: {e['error']}" for e in traj.meta["format_errors"]]
    if result.status not in ("solved", "given_up", "max_calls"):
        errors.append(f"{result.status}: {result.message}")
    return Episode(task, result.status, [s.action for s in traj.steps if s.action is not None], result.answer,
                   errors, recorder.outputs, traj.meta["faults"])


def run_episodes(gen: Generator, tasks: list[Task], *, max_calls: int, desc: str = "") -> list[Episode]:
    """Every task's episode, in task order; generations go through `gen`'s cache and counts."""
    system = gen.system
    cached = CachedLLM(system.llm, namespace=system.name, store=gen)
    width = min(gen.batch_size, max(1, len(tasks)))
    bar = tqdm(total=len(tasks), desc=f"{desc} episodes", unit="item", disable=not gen.progress, leave=False)
    episodes: list[Episode] = []
    try:
        if width == 1:
            for task in tasks:
                episodes.append(run_episode(cached, system, task, max_calls))
                bar.update()
            return episodes
        return _threads(Batcher(cached, width), system, tasks, max_calls, bar)
    finally:
        bar.close()


def _threads(batcher: Batcher, system: System, tasks: list[Task], max_calls: int, bar: tqdm) -> list[Episode]:
    """`batcher.running` episodes at once, each thread taking the next task when its own ends."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in enumerate(tasks):
        todo.put(item)
    episodes: list[Episode | None] = [None] * len(tasks)

    def worker() -> None:
        try:
            while True:
                try:
                    i, task = todo.get_nowait()
                except queue.Empty:
                    return
                episodes[i] = run_episode(batcher, system, task, max_calls)
                bar.update()
        finally:
            batcher.leave()

    width = batcher.running
    with ThreadPoolExecutor(width) as pool:
        for running in [pool.submit(worker) for _ in range(width)]:
            running.result()
    return episodes
