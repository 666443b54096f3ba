"""`Episode`: builds one trajectory by executing real tool calls, step by step.

A task (see `tasks_*.py`) asks, calls and answers through an Episode; every call runs against the
episode's own fresh tool registry, so the observation in the trajectory is what the tool returned.
The task declares the facts its answer must state (a PNR, a temperature); verification checks them.

Recovery variants come from `Episode.call(..., recover=True)`: before the real call, the episode
tries a broken version of it (an argument left out, a number sent as text, a misspelt value), keeps
it only if the tool really rejects it, and writes the retry's rationale from the error it got.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.tools import Observation, ToolRegistry
from multiagentllm.types import Step, ToolCall, Trajectory

# Tools whose successful call changes the world: never tried with a guessed (possibly valid) value.
MUTATING = {"book_flight", "book_hotel", "cancel_booking", "create_event"}


class Skip(Exception):
    """The task cannot make a sensible episode from what the tools returned (e.g. no flights)."""


@dataclass
class Episode:
    registry: ToolRegistry
    rng: random.Random  # variant choices: action paths, wording of rationales and answers
    variant: int = 0
    instruction: str = ""
    offered: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    answer_text: str | None = None
    outcome: str = "solved"
    tags: list[str] = field(default_factory=list)
    recover_budget: int = 0  # how many recovery detours this variant may still take
    recover_at: int = 0  # the detour is tried at this call (or the first possible one after it)
    calls_made: int = 0

    def ask(self, text: str) -> None:
        self.instruction = " ".join(text.split())

    def offer(self, *names: str) -> None:
        for n in names:
            if n not in self.offered:
                self.offered.append(n)

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)

    def call(self, name: str, arguments: dict[str, Any], why: str, *, recover: bool = True) -> Observation:
        """Run one call (after a failed attempt when this variant recovers) and record it."""
        self.offer(name)
        self.calls_made += 1
        if recover and self.recover_budget > 0 and self.calls_made > self.recover_at:
            broken = self._broken(name, arguments)
            if broken is not None:
                args, what = broken
                obs = self.registry.call(name, args, timeout=None)
                if not obs.ok:
                    self.recover_budget -= 1
                    self.tags.append("recovery")
                    self.steps.append(Step(why, "caller", ToolCall(name, args), obs.content))
                    why = self.pick(RETRY).format(error=obs.error, fix=what)
        obs = self.registry.call(name, arguments, timeout=None)
        self.steps.append(Step(why, "caller", ToolCall(name, copy.deepcopy(arguments)), obs.content))
        return obs

    def fail(self, name: str, arguments: dict[str, Any], why: str) -> Observation:
        """A call the task expects to fail (e.g. an unknown city before giving up)."""
        obs = self.call(name, arguments, why, recover=False)
        if obs.ok:
            raise Skip(f"{name} unexpectedly succeeded")
        return obs

    def answer(self, why: str, text: str, facts: list[Any]) -> None:
        self.steps.append(Step(why, "summarizer"))
        self.answer_text = text
        self.facts = [str(f) for f in facts]

    def give_up(self, why: str) -> None:
        self.steps.append(Step(why, "give_up"))
        self.outcome = "given_up"

    def _broken(self, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """A version of the call the tool should reject, and how the retry fixes it."""
        schema = self.registry.get(name).schema["parameters"]
        props, required = schema.get("properties", {}), schema.get("required", [])
        options: list[tuple[dict[str, Any], str]] = []
        present = [r for r in required if r in arguments]
        for key, value in arguments.items():
            kind = props.get(key, {}).get("type")
            if kind in ("number", "integer") and isinstance(value, (int, float)) and not isinstance(value, bool):
                options.append(({**arguments, key: str(value)}, f"send '{key}' as a number, not text"))
            if name not in MUTATING and kind == "string" and isinstance(value, str) and len(value) > 3 \
                    and key in SPELLABLE:
                options.append(({**arguments, key: _misspell(value, self.rng)},
                                f"use the correct {key} '{value}'"))
            if name not in MUTATING and key in ("date", "check_in", "start", "end") and isinstance(value, str):
                options.append(({**arguments, key: _reformat_date(value)}, f"write the {key} as YYYY-MM-DD"))
        if present and (not options or self.rng.random() < 0.3):
            drop = self.pick(present)
            return ({k: v for k, v in arguments.items() if k != drop}, f"include the required '{drop}' argument")
        return self.pick(options) if options else None

    def trajectory(self, id: str, source: str, tool_schemas: list[dict[str, Any]],
                   meta: dict[str, Any]) -> Trajectory:
        return Trajectory(id=id, instruction=self.instruction, tools=tool_schemas, steps=self.steps,
                          answer=self.answer_text, outcome=self.outcome, source=source,
                          meta={**meta, "facts": self.facts, "tags": sorted(set(self.tags))})


SPELLABLE = {"expression", "city", "origin", "destination", "country", "from_currency", "to_currency", "base", "quote",
             "from_unit", "to_unit", "language", "phrase", "code"}

RETRY = [
    "That failed ({error}); I will {fix} and call it again.",
    "The tool rejected the call: {error}. Retrying, this time I {fix}.",
    "Error from the tool: {error}. I need to {fix}.",
    "The previous attempt did not work because {error}. Let me {fix}.",
    "Fixing my mistake: {error}. I'll {fix} and retry.",
]


def _misspell(value: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(value) - 1)
    if rng.random() < 0.5:
        return value[:i] + value[i + 1:]  # drop a letter
    return value[:i] + value[i] + value[i:]  # double a letter


def _reformat_date(value: str) -> str:
    y, m, d = value.split("-") if value.count("-") == 2 else ("", "", "")
    return f"{m}/{d}/{y}" if y else value + "?"
