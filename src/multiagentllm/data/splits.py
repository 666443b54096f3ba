"""Deterministic splits by instruction: every trajectory of one instruction lands in one split."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from multiagentllm.types import Trajectory

SPLITS = ("train", "dev", "test")


def instruction_key(instruction: str) -> str:
    """Normalised instruction text: case and whitespace do not make a new instruction."""
    return " ".join(instruction.lower().split())


def _bucket(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(trajs: Iterable[Trajectory], *, dev: float = 0.05, test: float = 0.05,
                  salt: str = "umi-split-v1",
                  forced: dict[str, str] | None = None) -> dict[str, list[Trajectory]]:
    """Split trajectories by instruction.

    A trajectory may force its split with `meta["split"]` (e.g. held-out synthetic tasks, or a
    source's test groups); `forced` maps a source name to a split for all its trajectories.  When
    one instruction has both forced and unforced trajectories, the whole group follows the forced
    split (the most held-out one wins: test > dev > train), so no instruction crosses splits.
    """
    if not 0 <= dev + test < 1:
        raise ValueError(f"dev ({dev}) + test ({test}) must be in [0, 1)")
    forced = forced or {}
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        groups[instruction_key(t.instruction)].append(t)
    out: dict[str, list[Trajectory]] = {s: [] for s in SPLITS}
    rank = {s: i for i, s in enumerate(SPLITS)}
    for key in sorted(groups):
        group = groups[key]
        wanted = [t.meta.get("split") or forced.get(t.source) for t in group]
        wanted = [w for w in wanted if w]
        for w in wanted:
            if w not in SPLITS:
                raise ValueError(f"trajectory in group {key[:60]!r} asks for unknown split {w!r}")
        if wanted:
            split = max(wanted, key=rank.__getitem__)
        else:
            b = _bucket(key, salt)
            split = "test" if b < test else "dev" if b < test + dev else "train"
        out[split].extend(group)
    return out


def shared_instructions(train: Iterable[Trajectory], held: Iterable[Trajectory]) -> list[Trajectory]:
    """The `held` trajectories whose instruction (case and whitespace aside) is also in `train`:
    evaluation items that a model trained on `train` has seen."""
    seen = {instruction_key(t.instruction) for t in train}
    return [t for t in held if instruction_key(t.instruction) in seen]


def name_shared(leaked: list[Trajectory], shown: int, width: int) -> str:
    """The first `shown` of `shared_instructions`' result as `id: 'instruction'` (cut at `width`
    characters), and how many more, for an error message."""
    named = "; ".join(f"{t.id}: {t.instruction[:width]!r}" for t in leaked[:shown])
    return named + (f" and {len(leaked) - shown} more" if len(leaked) > shown else "")
