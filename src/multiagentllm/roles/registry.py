"""The role registry: every role the system trains and runs, in one place; the rest of the code
asks it instead of keeping its own list of role names or its own switch over them.

A *role* is a model of the system: its adapter, its training dataset and its system prompt
(`templates/{name}.txt`) carry its name. An episode is made of three *turns*, planner, caller and
summarizer, each rendered, stopped and parsed by the module of the same name. In alpha-UMi each
turn is written by the role of the same name (the trio); the single-LLM baseline (`single`)
writes all three turns under its own system prompt; `global` (GLPFT stage 1) learns whole
trajectories and writes no turn at run time: it is the backbone the others are tuned from.

Every turn module has the same prompt signature,
`prompt(instruction, tools, steps, rationale="", role=ROLE)`; only the caller reads the
rationale (the planner's latest one, which it turns into a call).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from multiagentllm.roles import caller, global_format, planner, single, summarizer
from multiagentllm.roles.render import Rendered
from multiagentllm.types import Step, Trajectory

TRIO = ("planner", "caller", "summarizer")  # the turns of an episode, in order; alpha-UMi's roles


@dataclass(frozen=True)
class Role:
    name: str
    module: ModuleType  # its training sequence (`sequence`); for a turn also prompt, parse, STOP...
    turns: tuple[str, ...]  # the turns its model writes in an episode
    dataset: str  # its training set: DATA/{dataset}/{split}.seq.jsonl

    def sequence(self, traj: Trajectory) -> Rendered | None:
        """`traj` as this role's multi-span training sequence (None: nothing to learn from it)."""
        return self.module.sequence(traj)

    def prompt(self, turn: str, instruction: str, tools: list[dict[str, Any]], steps: list[Step],
               rationale: str | None = None) -> str:
        """The prompt of `turn` as this role's model reads it; `rationale` (the planner's, for
        the caller) is ignored by the other turns."""
        if turn not in self.turns:
            raise ValueError(f"the {self.name} model writes no {turn!r} turn (its turns: "
                             f"{', '.join(self.turns) or 'none'})")
        return _TURNS[turn].prompt(instruction, tools, steps, rationale or "", role=self.name)


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("global", global_format, (), "global"),
    Role("planner", planner, ("planner",), "planner"),
    Role("caller", caller, ("caller",), "caller"),
    Role("summarizer", summarizer, ("summarizer",), "summarizer"),
    Role("single", single, TRIO, "single"),
)}
DATASETS = tuple(r.dataset for r in ROLES.values())  # what `umi data build` writes, stage 1 first
MODEL_ROLES = tuple(name for name, r in ROLES.items() if r.turns)  # roles with a model at run time
_TURNS: dict[str, ModuleType] = {t: ROLES[t].module for t in TRIO}


def dataset_role(dataset: str) -> Role:
    """The role trained on `dataset`."""
    for r in ROLES.values():
        if r.dataset == dataset:
            return r
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")


def _turn_module(turn: str) -> ModuleType:
    """The module that renders, stops and parses `turn` (whichever model writes it)."""
    try:
        return _TURNS[turn]
    except KeyError:
        raise ValueError(f"unknown turn {turn!r}; expected one of {', '.join(TRIO)}") from None


def model_role(turn: str, single: bool = False) -> str:
    """The role whose model writes `turn`: the turn's own role, or `single` for the baseline."""
    _turn_module(turn)
    return "single" if single else turn


def episode_roles(single: bool = False) -> tuple[str, ...]:
    """The roles whose models run an episode: the alpha-UMi trio, or the single-LLM baseline."""
    return ("single",) if single else TRIO


def prompt(turn: str, instruction: str, tools: list[dict[str, Any]], steps: list[Step],
           rationale: str | None = None, *, single: bool = False) -> str:
    """The prompt of `turn` for the model that writes it (the single-LLM baseline's if `single`)."""
    return ROLES[model_role(turn, single)].prompt(turn, instruction, tools, steps, rationale)


def stop(turn: str) -> list[str]:
    """Where generation of `turn` stops (besides EOS): text the turn must never write."""
    return list(_turn_module(turn).STOP)


def max_new_tokens(turn: str) -> int:
    """The token budget of `turn`."""
    return _turn_module(turn).MAX_NEW_TOKENS
