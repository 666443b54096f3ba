"""The synthesis loop: task families -> executed episodes -> verified, de-duplicated trajectories.

Work is cut into chunks of instruction indices; a chunk's output depends only on (seed, chunk
index), so the result is the same with one worker or several, and `--workers` only changes speed.
Each instruction gets 1-3 variants: the plain path (variant 0), an alternative path where the task
has one (variant 1), and a recovery detour (variant 2: a rejected call, then the fix).

Recipes: "v1" (the cpu-full trio's data) offers the task's tools plus 0-2 random distractors in a
shuffled order. "v2" adds the composed requests of `compose.py` and offers what the runtime's
retriever offers for the request (`tools.retrieval`, k = 5, the task's tools kept), in registry
order, as the runtime lists them; so the distractors are the plausible ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from multiagentllm.data.synth import compose, tasks_info, tasks_special, tasks_travel
from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.verify import verify
from multiagentllm.tools.replay import base_registry, fresh_for
from multiagentllm.tools.retrieval import DEFAULT_K, retriever_for
from multiagentllm.tools.world import stable_rng

SOURCE = "synthetic"
MAX_CALLS = 5
MAX_PER_INSTRUCTION = 4
CLOCK_START = datetime(2024, 1, 1, 9, 0)
RECIPES = ("v1", "v2")


@dataclass(frozen=True)
class Family:
    """A task family: the function that plays one episode, its sampling weight, its domain, and
    the split it belongs to ("test" families are held out with their tool combinations)."""

    name: str
    play: Callable[[Episode, Any], None]
    weight: float
    domain: str
    split: str = "train"


def families(recipe: str = "v1") -> list[Family]:
    if recipe not in RECIPES:
        raise ValueError(f"unknown synthesis recipe {recipe!r}; known: {', '.join(RECIPES)}")
    out = []
    for module in (tasks_travel, tasks_info, tasks_special) + ((compose,) if recipe == "v2" else ()):
        for name, spec in module.TASKS.items():
            out.append(Family(name, *spec))
    return out


@dataclass
class ChunkResult:
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    rejects: Counter = field(default_factory=Counter)
    instructions: int = 0


def offered_tools(recipe: str, instruction: str, used: list[str], distractors: list[str], domain: str,
                  q) -> list[str]:
    """The tool names a trajectory's prompt lists (see the module docstring for the recipes)."""
    if recipe == "v1":
        names = list(used) + [d for d in distractors if d not in used and domain != "none"]
        q.shuffle(names)
        return names
    schemas = base_registry().schemas(base_registry().names)
    return retriever_for(schemas).select(instruction, DEFAULT_K, keep=used)


def play_instruction(seed: int, index: int, fams: list[Family], result: ChunkResult, recipe: str = "v1") -> None:
    pick = stable_rng(seed, "instruction", index)
    fam = pick.choices(fams, weights=[f.weight for f in fams])[0]
    now = CLOCK_START + timedelta(days=pick.randrange(366))
    n_variants = pick.choice([1, 2, 2, 3, 3])
    distractors = pick.sample(base_registry().names, pick.randint(0, 2))
    result.instructions += 1
    for v in range(n_variants):
        q = stable_rng(seed, "q", index)  # identical for every variant: same instruction
        vrng = stable_rng(seed, "v", index, v)
        ep = Episode(base_registry().fresh(seed=seed, now=now), vrng, variant=v,
                     recover_budget=1 if v == 2 else 0, recover_at=vrng.choice([0, 0, 1, 2]))
        try:
            fam.play(ep, q)
        except Skip:
            result.rejects["task could not complete"] += 1
            continue
        if v == 2 and "recovery" not in ep.tags:
            result.rejects["no recovery possible"] += 1
            continue
        if sum(1 for st in ep.steps if st.action) > MAX_CALLS:
            result.rejects["more than 5 calls"] += 1
            continue
        names = offered_tools(recipe, ep.instruction, ep.offered, distractors, fam.domain, q)
        meta = {"family": fam.name, "domain": fam.domain, "variant": v,
                "env": ep.registry.world.to_dict(), "instruction_id": f"{seed}-{index}"}
        if fam.split != "train":
            meta["split"] = fam.split
        if recipe != "v1":
            meta["recipe"] = recipe
        traj = ep.trajectory(f"synth-{seed}-{index}-{v}", SOURCE, base_registry().schemas(names), meta)
        reason = verify(traj, fresh_for)
        if reason:
            result.rejects[reason] += 1
            continue
        result.trajectories.append(traj.to_dict())


def run_chunk(args: tuple[int, int, int, str]) -> ChunkResult:
    seed, chunk, size, recipe = args
    fams = families(recipe)
    result = ChunkResult()
    for index in range(chunk * size, (chunk + 1) * size):
        play_instruction(seed, index, fams, result, recipe)
    return result


def chunks(seed: int, size: int, workers: int, recipe: str = "v1") -> Iterator[ChunkResult]:
    """Chunk results in chunk order, forever (the caller stops when it has enough)."""
    if workers <= 1:
        chunk = 0
        while True:
            yield run_chunk((seed, chunk, size, recipe))
            chunk += 1
    import multiprocessing as mp

    from itertools import count

    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(run_chunk, ((seed, c, size, recipe) for c in count()), chunksize=1)


def fingerprint(d: dict[str, Any]) -> tuple:
    import json

    return (d["instruction"], json.dumps(d["steps"], sort_keys=True), d.get("answer"))


def synthesize(n: int, seed: int = 0, *, workers: int = 1, chunk_size: int = 100, recipe: str = "v1",
               progress: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate `n` verified, distinct trajectories; returns (trajectories, run report)."""
    start = time.perf_counter()
    kept: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    rejects: Counter = Counter()
    per_instruction: Counter = Counter()  # short requests ("Hi!") recur; cap their share
    instructions = 0
    families(recipe)  # an unknown recipe fails here, before any worker starts
    for result in chunks(seed, chunk_size, workers, recipe):
        instructions += result.instructions
        rejects.update(result.rejects)
        for d in result.trajectories:
            fp = fingerprint(d)
            if fp in seen:
                rejects["duplicate"] += 1
                continue
            if per_instruction[d["instruction"]] >= MAX_PER_INSTRUCTION:
                rejects["instruction already has enough variants"] += 1
                continue
            seen.add(fp)
            per_instruction[d["instruction"]] += 1
            kept.append(d)
            if len(kept) >= n:
                break
        if progress:
            progress(min(len(kept), n))
        if len(kept) >= n:
            break
    report = {"seed": seed, "recipe": recipe, "requested": n, "instructions_tried": instructions, "rejects": dict(rejects),
              "seconds": round(time.perf_counter() - start, 2), "workers": workers}
    return kept, report
