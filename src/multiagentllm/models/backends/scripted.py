"""A scripted `LLM` for tests and demos: it replays outputs written in advance.

Like a real backend it cuts each output at the first stop string, so a script can be written
as a model would babble; it records every prompt it was given, so tests can check what each
role saw. An output may also be a function of the prompt (`lambda prompt: ...`), for a turn that
depends on what a tool returned earlier in the episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Output = str | Callable[[str], str]


def cut_at_stop(text: str, stop: list[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop string."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


@dataclass
class ScriptedCall:
    role: str
    prompt: str
    max_new_tokens: int
    stop: list[str]
    output: str
    constraint: Any = None


class ScriptedLLM:
    """`ScriptedLLM(outputs=[...])` answers every role from one list in order;
    `ScriptedLLM(outputs={"planner": [...], "caller": [...]})` keeps one list per role."""

    def __init__(self, outputs: list[Output] | dict[str, list[Output]]):
        self.shared = None if isinstance(outputs, dict) else list(outputs)
        self.per_role = {k: list(v) for k, v in outputs.items()} if isinstance(outputs, dict) else {}
        self.calls: list[ScriptedCall] = []

    constrains = True  # it records the grammar of each call (`ScriptedCall.constraint`)

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        outs = [self._next(p, role, max_new_tokens, stop) for p in prompts]
        for call in self.calls[-len(prompts):] if prompts else []:
            call.constraint = constraint
        return outs

    def _next(self, prompt: str, role: str, max_new_tokens: int, stop: list[str]) -> str:
        queue = self.shared if self.shared is not None else self.per_role.get(role)
        if queue is None:
            raise RuntimeError(f"ScriptedLLM has no outputs for role {role!r} "
                               f"(scripted roles: {sorted(self.per_role)})")
        if not queue:
            used = sum(1 for c in self.calls if self.shared is not None or c.role == role)
            raise RuntimeError(f"ScriptedLLM ran out of outputs for role {role!r} after {used} calls")
        item = queue.pop(0)
        out = cut_at_stop(item(prompt) if callable(item) else item, stop)
        self.calls.append(ScriptedCall(role, prompt, max_new_tokens, list(stop), out))
        return out

    @staticmethod
    def count_tokens(text: str) -> int:
        """Scripted models count whitespace-separated words as tokens."""
        return len(text.split())

    @property
    def remaining(self) -> int:
        if self.shared is not None:
            return len(self.shared)
        return sum(len(v) for v in self.per_role.values())

