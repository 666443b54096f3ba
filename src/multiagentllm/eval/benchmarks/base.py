"""What a benchmark is to `umi eval suite`: the items it reads, how a system is run on them, and
the columns its report gives the results table. Each benchmark file defines its own and lists
them in its `BENCHMARKS`; `eval.benchmarks` registers them in the suite's order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from multiagentllm.eval.generate import Generator, System

# A benchmark's run: (report, per-item records, the generator, or None when it calls the model
# without one, as the agent loop of the pass rate does).
Result = tuple[dict[str, Any], list[dict[str, Any]], Generator | None]


class Missing(Exception):
    """A benchmark's data is not there. The suite skips it, with `reason + hint`, when it is
    `optional` and was not named by the user; otherwise it is an error naming `reason`."""

    def __init__(self, reason: str, *, optional: bool = True, hint: str = ""):
        super().__init__(reason)
        self.reason, self.optional, self.hint = reason, optional, hint


@dataclass(frozen=True)
class Where:
    """Where a suite run finds the benchmarks' items."""

    data: Path  # the output of `umi data build`
    root: Path  # the public datasets (`umi data build` reads them there too)
    out: Path  # the run folder (a benchmark may keep its sample there)
    synth: Path | None  # synthesized trajectories; None: the default file, when it exists
    seed: int  # of every sample a benchmark draws
    console: Console

    def test_split(self) -> Path:
        """DATA/trajectories/test.jsonl, which `umi data build` writes; without it --data is wrong."""
        test = self.data / "trajectories" / "test.jsonl"
        if not test.exists():
            raise Missing(f"{test} not found; --data must be a folder written by `umi data build`", optional=False)
        return test


@dataclass
class Items:
    """What one benchmark reads in one suite run."""

    inputs: list[Path | None]  # what its evaluator reads
    files: list[Path]  # every file the result depends on (fingerprinted into the settings)
    limit: int | None
    extra: dict[str, Any] = field(default_factory=dict)  # further settings the result depends on


@dataclass(frozen=True)
class Benchmark:
    name: str
    limit: str  # the suite option that sizes it: --limit-<limit>
    columns: tuple[tuple[str, str], ...]  # (figure of its report, label) in the results table
    find: Callable[[Where, int | None], Items]  # raises Missing
    run: Callable[[Items, System, Path | None, int], Result]  # items, system, cache, batch size
    default: bool = True  # run when `--benchmarks` is not given
    # How the benchmark runs its items, when a change to it must recompute earlier reports and
    # generations: part of their settings and of their cache's name ("" for neither).
    version: str = ""
    # How `umi eval paired` reads one per-item record: its figures as the benchmark scored them,
    # the key that matches it across systems, and the unit the bootstrap resamples (an item whose
    # records are not independent, e.g. the steps of one static trajectory, is one cluster).
    item_figures: Callable[[dict[str, Any]], dict[str, float]] | None = None
    item_key: Callable[[dict[str, Any]], Any] = field(default=lambda record: record["id"])
    cluster_key: Callable[[dict[str, Any]], Any] = field(default=lambda record: record["id"])


_digests: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Name, size and sha256 of a file (memoized per size and mtime, so big files hash once)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return {"name": path.name, "size": stat.st_size, "sha256": _digests[key]}


def read_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None (no file, or not a JSON object: written by nothing we know)."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None
