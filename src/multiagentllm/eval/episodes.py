"""Planner -> caller episodes for benchmarks whose calls are judged, not executed (APIBench, BFCL).

Items advance in lockstep, one round at a time, so every round is one batch per turn:
the planner writes a rationale and a decision for every open item; the caller writes a call for
each item whose planner chose `Caller`; the call is recorded and answered with a fixed
observation (`NOT_EXECUTED`), and the planner goes again, until it chooses `Summarizer` or
`Give up`, or `max_calls` calls were made.  Optionally the summarizer then writes an answer (the
APIBench runner reads a code line from it when no call was made).  When the generator sends one
prompt at a time (a model in process on a CPU), the items run one after the other instead, so
each role's next prompt extends its previous one and the runner prefills only the new tokens.

The prompts, stop strings and token budgets are the roles' own, through `System.prompt` and
`Generator`, so alpha-UMi and the single-LLM baseline are driven identically.  An output that
does not parse ends the item's episode; its reason is recorded.

The runtime's safeguards apply as in `agent.loop`: turns decode under their grammars when the
system constrains, and with the loop guard a call identical to an earlier one is not recorded
again (the planner is told it was already made); repeating it once more ends the episode
(`guard`). Each item counts its call faults (`agent.faults`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.agent.faults import count_calls, repeats, total
from multiagentllm.eval.generate import Generator, Request
from multiagentllm.roles import FormatError, caller, planner, summarizer
from multiagentllm.types import Step, ToolCall

NOT_EXECUTED = '{"status": "recorded; this benchmark does not execute calls"}'


@dataclass
class Task:
    key: str
    instruction: str
    tools: list[dict[str, Any]]


@dataclass
class Episode:
    task: Task
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    end: str = "running"  # summarizer | give_up | max_calls | format_error | guard
    errors: list[str] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)  # raw model outputs, for the report
    refused: set[int] = field(default_factory=set)  # steps whose call the loop guard did not record
    asked: list[ToolCall] = field(default_factory=list)  # every call the caller wrote, refused or not

    @property
    def calls(self) -> list[ToolCall]:
        return [s.action for i, s in enumerate(self.steps) if s.action is not None and i not in self.refused]

    def faults(self) -> dict[str, int]:
        counts = count_calls((o["output"] for o in self.outputs if o["turn"] == "caller"), self.task.tools)
        counts.update(repeats((c.name, c.arguments, True) for c in self.asked))
        return total([counts])

    @property
    def open(self) -> bool:
        return self.end == "running"


def run_episodes(gen: Generator, tasks: list[Task], *, max_calls: int, summarize: bool = False,
                 desc: str = "") -> list[Episode]:
    if gen.batch_size > 1:
        return _lockstep(gen, tasks, max_calls=max_calls, summarize=summarize, desc=desc)
    from tqdm import tqdm

    episodes: list[Episode] = []
    progress, gen.progress = gen.progress, False  # one bar over the items, not one per prompt
    try:
        for task in tqdm(tasks, desc=f"{desc} episodes", unit="item", disable=not progress, leave=False):
            episodes += _lockstep(gen, [task], max_calls=max_calls, summarize=summarize, desc=desc)
    finally:
        gen.progress = progress
    return episodes


def _lockstep(gen: Generator, tasks: list[Task], *, max_calls: int, summarize: bool,
              desc: str) -> list[Episode]:
    episodes = [Episode(t) for t in tasks]
    for round_ in range(max_calls + 1):
        active = [e for e in episodes if e.open]
        if not active:
            break
        plans = gen.run([_request(gen, e, "planner", f"p{round_}") for e in active], f"{desc} planner {round_ + 1}")
        callers: list[tuple[Episode, str]] = []
        for ep, out in zip(active, plans):
            ep.outputs.append({"turn": "planner", "output": out})
            try:
                rationale, next_ = planner.parse(out)
            except FormatError as e:
                _fail(ep, "planner", e)
                continue
            if next_ == "caller":
                callers.append((ep, rationale))
            else:
                ep.steps.append(Step(rationale, next_))
                ep.end = next_
        if callers:
            outs = gen.run([_request(gen, e, "caller", f"c{round_}", r) for e, r in callers], f"{desc} caller {round_ + 1}")
            for (ep, rationale), out in zip(callers, outs):
                ep.outputs.append({"turn": "caller", "output": out})
                try:
                    call = caller.parse(out)
                except FormatError as e:
                    _fail(ep, "caller", e)
                    continue
                ep.asked.append(call)
                if gen.system.loop_guard and _guard(ep, rationale, call):
                    continue
                ep.steps.append(Step(rationale, "caller", call, NOT_EXECUTED))
                if len(ep.calls) >= max_calls:
                    ep.end = "max_calls"
    for ep in episodes:
        if ep.open:
            ep.end = "max_calls"
    if summarize:
        _summarize(gen, [e for e in episodes if e.end == "summarizer"], desc)
    return episodes


def _guard(ep: Episode, rationale: str, call: ToolCall) -> bool:
    """The loop guard: True when `call` repeats an earlier one (and is not recorded)."""
    earlier = [i for i, s in enumerate(ep.steps) if s.action == call and i not in ep.refused]
    if not earlier:
        return False
    if any(ep.steps[i].action == call for i in ep.refused):
        ep.end = "guard"  # repeated again after the guard said so
        return True
    error = json.dumps({"error": f"this exact call was already made at step {earlier[0] + 1}; it was not "
                                 "run again: use that result, or call with other arguments"})
    ep.refused.add(len(ep.steps))
    ep.steps.append(Step(rationale, "caller", call, error))
    return True


def _request(gen: Generator, ep: Episode, turn: str, tag: str, rationale: str | None = None) -> Request:
    t = ep.task
    return Request(f"{t.key}#{tag}", turn, gen.system.prompt(turn, t.instruction, t.tools, ep.steps, rationale),
                   gen.system.grammar(turn, t.tools))


def _fail(ep: Episode, turn: str, error: FormatError) -> None:
    ep.errors.append(f"{turn}: {error}")
    ep.end = "format_error"


def _summarize(gen: Generator, episodes: list[Episode], desc: str) -> None:
    outs = gen.run([_request(gen, e, "summarizer", "s") for e in episodes], f"{desc} summarizer")
    for ep, out in zip(episodes, outs):
        ep.outputs.append({"turn": "summarizer", "output": out})
        try:
            ep.answer = summarizer.parse(out)
        except FormatError as e:
            ep.errors.append(f"summarizer: {e}")
