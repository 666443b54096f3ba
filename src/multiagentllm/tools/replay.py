"""A trajectory in the built-in tool world: replay its calls, read the state they leave behind,
and check its answer against what the tools said.

Synthesis verifies every trajectory it writes with these (`multiagentllm.data.synth.verify`), the
pass-rate evaluation judges the agent's episodes with the same ones (`multiagentllm.eval.benchmarks.passrate`),
and the runtime's answer grounding (`multiagentllm.agent.grounding`) reads numbers the same way, so
what synthesis accepts and what the evaluation passes are one rule.

* replay -- `fresh_for(traj)` rebuilds the world a trajectory was played in (`meta["env"]`: seed and
            clock); `expected_state(traj)` replays its calls there and reads `world_state`: the
            bookings and calendar events the mutating tools leave behind;
* facts  -- `check_facts(traj)`: each declared fact (`meta["facts"]`) is in the answer and in the
            evidence (the instruction, the tool names, the observations, the call arguments), and
            every number the answer states is found in the evidence.
"""

from __future__ import annotations

import json
import re
from typing import Any

from multiagentllm.tools import ToolRegistry, default_registry
from multiagentllm.types import Trajectory

_BASE: ToolRegistry | None = None


def base_registry() -> ToolRegistry:
    """The built-in tools, built once per process (`fresh()` copies bind them to a new world)."""
    global _BASE
    if _BASE is None:
        _BASE = default_registry(timeout=None)
    return _BASE


def fresh_for(traj: Trajectory) -> ToolRegistry:
    """A new world as the trajectory's `meta["env"]` describes it (seed 0 and the default clock
    where it says nothing)."""
    env = traj.meta.get("env") or {}
    return base_registry().fresh(seed=env.get("seed", 0), now=env.get("now"))


def world_state(registry: Any) -> dict[str, list[tuple]]:
    """What mutating tools change, without generated ids (they depend on call order)."""
    db = registry.world.db
    with registry.world.lock:
        bookings = db.execute("SELECT kind, item_id, name, date, nights, total, status FROM bookings").fetchall()
        events = db.execute("SELECT title, date, time FROM events").fetchall()
    return {"bookings": sorted(bookings), "events": sorted(events)}


def expected_state(traj: Trajectory) -> dict[str, list[tuple]]:
    """Replay the trajectory's calls in a fresh world and read its state."""
    registry = fresh_for(traj)
    for call in traj.calls:
        registry.call(call.name, call.arguments, timeout=None)
    return world_state(registry)


_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def number_tokens(text: str) -> list[str]:
    """The numbers of a text as written, dates and times split into their parts ("2024-06-11"
    gives "2024", "06" and "11")."""
    return _NUMBER.findall(text.replace("-", " - ").replace(":", " : ").replace("/", " / "))


def numbers(text: str) -> set[str]:
    """Numbers in a text, normalised ("15,500" == "15500.0" == "15500"); dates and times are
    split into their parts, so "2024-06-11" gives 2024, 6 and 11."""
    out = set()
    for token in number_tokens(text):
        token = token.replace(",", "")
        try:
            out.add(f"{float(token):.6g}")
        except ValueError:
            continue
    return out


def evidence_text(traj: Trajectory) -> str:
    parts = [traj.instruction, *traj.tool_names]
    parts += [s.observation for s in traj.steps if s.observation]
    parts += [json.dumps(s.action.arguments, ensure_ascii=False) for s in traj.steps if s.action]
    return "\n".join(parts)


# The reasons an answer fails its facts; `umi eval failures` files every reason that starts with one
# of them (tau-bench's judge adds which outputs it misses) under "answer misses a fact".
MISSES_FACT = "answer misses a fact"
FACT_NOT_OBSERVED = "fact not in observations"
UNGROUNDED_NUMBER = "answer states an ungrounded number"
ANSWER_REASONS = (MISSES_FACT, FACT_NOT_OBSERVED, UNGROUNDED_NUMBER)


def check_facts(traj: Trajectory) -> str | None:
    """The first reason a solved trajectory's answer is not grounded in its evidence, or None."""
    if traj.outcome != "solved":
        return None
    answer = traj.answer or ""
    evidence = evidence_text(traj)
    for fact in traj.meta.get("facts", []):
        fact = str(fact)
        if fact.lower() not in answer.lower() and not (numbers(fact) and numbers(fact) <= numbers(answer)):
            return MISSES_FACT
        if fact.lower() not in evidence.lower() and not (numbers(fact) and numbers(fact) <= numbers(evidence)):
            return FACT_NOT_OBSERVED
    stray = numbers(answer) - numbers(evidence)
    if stray:
        return UNGROUNDED_NUMBER
    return None
