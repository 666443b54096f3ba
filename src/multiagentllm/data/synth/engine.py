"""The synthesis loop: task families -> executed episodes -> verified, de-duplicated trajectories.

Work is cut into chunks of instruction indices; a chunk's output depends only on (seed, chunk
index), so the result is the same with one worker or several, and `--workers` only changes speed.
Each instruction gets 1-3 variants: the plain path (variant 0), an alternative path where the task
has one (variant 1), and a recovery detour (variant 2: a rejected call, then the fix).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from multiagentllm.data.synth import tasks_info, tasks_special, tasks_travel
from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.verify import verify
from multiagentllm.tools.replay import base_registry, fresh_for
from multiagentllm.tools.world import stable_rng

SOURCE = "synthetic"
MAX_CALLS = 5
MAX_PER_INSTRUCTION = 4
CLOCK_START = datetime(2024, 1, 1, 9, 0)


@dataclass(frozen=True)
class Family:
    """A task family: the function that plays one episode, its sampling weight, its domain, and
    the split it belongs to ("test" families are held out with their tool combinations)."""

    name: str
    play: Callable[[Episode, Any], None]
    weight: float
    domain: str
    split: str = "train"


def families() -> list[Family]:
    out = []
    for module in (tasks_travel, tasks_info, tasks_special):
        for name, spec in module.TASKS.items():
            out.append(Family(name, *spec))
    return out


@dataclass
class ChunkResult:
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    rejects: Counter = field(default_factory=Counter)
    instructions: int = 0


def play_instruction(seed: int, index: int, fams: list[Family], result: ChunkResult) -> None:
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
        names = list(ep.offered) + [d for d in distractors if d not in ep.offered and fam.domain != "none"]
        q.shuffle(names)
        meta = {"family": fam.name, "domain": fam.domain, "variant": v,
                "env": ep.registry.world.to_dict(), "instruction_id": f"{seed}-{index}"}
        if fam.split != "train":
            meta["split"] = fam.split
        traj = ep.trajectory(f"synth-{seed}-{index}-{v}", SOURCE, base_registry().schemas(names), meta)
        reason = verify(traj, fresh_for)
        if reason:
            result.rejects[reason] += 1
            continue
        result.trajectories.append(traj.to_dict())


def run_chunk(args: tuple[int, int, int]) -> ChunkResult:
    seed, chunk, size = args
    fams = families()
    result = ChunkResult()
    for index in range(chunk * size, (chunk + 1) * size):
        play_instruction(seed, index, fams, result)
    return result


def chunks(seed: int, size: int, workers: int) -> Iterator[ChunkResult]:
    """Chunk results in chunk order, forever (the caller stops when it has enough)."""
    if workers <= 1:
        chunk = 0
        while True:
            yield run_chunk((seed, chunk, size))
            chunk += 1
    import multiprocessing as mp

    from itertools import count

    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(run_chunk, ((seed, c, size) for c in count()), chunksize=1)


def fingerprint(d: dict[str, Any]) -> tuple:
    import json

    return (d["instruction"], json.dumps(d["steps"], sort_keys=True), d.get("answer"))


def synthesize(n: int, seed: int = 0, *, workers: int = 1, chunk_size: int = 100,
               progress: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate `n` verified, distinct trajectories; returns (trajectories, run report)."""
    start = time.perf_counter()
    kept: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    rejects: Counter = Counter()
    per_instruction: Counter = Counter()  # short requests ("Hi!") recur; cap their share
    instructions = 0
    for result in chunks(seed, chunk_size, workers):
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
    report = {"seed": seed, "requested": n, "instructions_tried": instructions, "rejects": dict(rejects),
              "seconds": round(time.perf_counter() - start, 2), "workers": workers}
    return kept, report
