"""`umi data synth`: generate, verify and write synthetic trajectories with their dataset card.

    umi data synth --out data/synth --n 20000 --seed 0

Writes OUT/trajectories.jsonl (atomically), OUT/stats.json and OUT/card.md.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multiagentllm.paths import default_data_root
from multiagentllm.data.synth.card import card, stats
from multiagentllm.data.synth.engine import synthesize
from multiagentllm.data.synth.irrelevant import irrelevant_give_ups
from multiagentllm.data.synth.real import real_trajectories
from multiagentllm.io import atomic_open, write_json, write_jsonl

DEFAULT_REAL = ("apibench", "sealtools", "apibank", "bfcl", "stabletoolbench")
IRRELEVANT_SHARE = 0.06  # v2: give-ups where no offered tool fits, per trajectory written


def synth(out: Path, n: int, seed: int = 0, *, workers: int = 1, real: tuple[str, ...] = DEFAULT_REAL,
          data_root: Path | None = None, recipe: str = "v1",
          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write `n` synthetic trajectories (plus the real-instruction trajectories of `real`, found
    under `data_root`) to `out`; return the stats written to stats.json."""
    start = time.perf_counter()
    trajs, report = synthesize(n, seed, workers=workers, recipe=recipe, progress=progress)
    rejects = Counter(report["rejects"])
    if real:
        root = Path(data_root) if data_root else default_data_root()
        if root.exists():
            seen = {d["instruction"] for d in trajs}
            for d in real_trajectories(root, list(real), seed, rejects):
                if d["instruction"] in seen and d["source"] != "synthetic":
                    rejects[f"{d['source']}: duplicate"] += 1
                    continue
                trajs.append(d)
        else:
            rejects["real sources: data root not found"] += 1
    if recipe != "v1":
        trajs += irrelevant_give_ups(trajs, round(IRRELEVANT_SHARE * len(trajs)), seed)
    report["rejects"] = dict(rejects)
    report["seconds"] = round(time.perf_counter() - start, 2)
    out = Path(out)
    write_jsonl(out / "trajectories.jsonl", trajs)
    s = stats(trajs, report)
    write_json(out / "stats.json", s)
    with atomic_open(out / "card.md") as f:
        f.write(card(s, examples(trajs)))
    return s


def examples(trajs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three trajectories of different kinds for the card: a chain, a recovery, a give-up."""
    picks: list[dict[str, Any]] = []
    for test in (lambda d: d["meta"].get("family") == "flight_book" and "recovery" not in d["meta"].get("tags", []),
                 lambda d: "recovery" in d["meta"].get("tags", []),
                 lambda d: d["outcome"] == "given_up" and d["source"] == "synthetic"):
        found = next((d for d in trajs if test(d)), None)
        if found:
            picks.append(found)
    return picks
