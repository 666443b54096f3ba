"""Paired comparison of two systems on the same benchmark items.

Two systems evaluated on the same items (the suite gives every system the same sample) differ by
chance as well as by skill: on 30 pass-rate tasks one episode is 3.3 points.  `paired` reads the
per-item records the evaluators write (`<benchmark>-<system>.items.jsonl`), matches the items of
the two systems, and gives for each headline figure the difference A - B with a 95% percentile
bootstrap interval.  The bootstrap resamples whole items; for the static benchmark an item is one
test trajectory, so the steps of one episode stay together (they are not independent).  A figure
is computed exactly as the evaluators compute it: the mean over the records that carry it.

The counts `A better` / `B better` are the items (static: step predictions) where one system's
value is higher: for a yes/no figure, the discordant pairs of McNemar's test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multiagentllm.eval.benchmarks import BENCHMARKS, Benchmark, suite_order
from multiagentllm.eval.report import LABELS, pct
from multiagentllm.io import atomic_open, write_json

RESAMPLES = 4000

def benchmark_of(name: str) -> Benchmark:
    """The registered benchmark whose records `name`'s items files hold: itself, or its family
    (a name the suite does not register, e.g. `bfcl_live_simple`, read as its `bfcl` kin)."""
    bench = BENCHMARKS.get(name) or next((b for b in BENCHMARKS.values() if name.startswith(b.limit + "_")
                                          or name == b.limit), None)
    if bench is None or bench.item_figures is None:
        known = ", ".join(n for n, b in BENCHMARKS.items() if b.item_figures)
        raise ValueError(f"benchmark {name!r}: no paired comparison for it (known: {known})")
    return bench


def load_items(path: Path, benchmark: str) -> dict[Any, tuple[Any, dict[str, float]]]:
    """unit key -> (cluster key, figures), from one items file; a bad line is an error naming it."""
    bench = benchmark_of(benchmark)
    items: dict[Any, tuple[Any, dict[str, float]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                items[bench.item_key(rec)] = (bench.cluster_key(rec), bench.item_figures(rec))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a {bench.name} item record ({type(e).__name__}: {e})") from None
    return items


@dataclass
class Paired:
    benchmark: str
    figure: str
    n: int            # records carrying the figure (static: step predictions)
    clusters: int     # resampled units (static: trajectories)
    a: float
    b: float
    diff: float
    low: float
    high: float
    a_better: int
    b_better: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(benchmark: str, a_path: Path, b_path: Path, *, resamples: int = RESAMPLES,
            seed: int = 0) -> list[Paired]:
    """The difference A - B of each figure of `benchmark`, with its 95% bootstrap interval."""
    a_items, b_items = load_items(a_path, benchmark), load_items(b_path, benchmark)
    if a_items.keys() != b_items.keys():
        only_a, only_b = len(a_items.keys() - b_items.keys()), len(b_items.keys() - a_items.keys())
        raise ValueError(f"{a_path} and {b_path} hold different items ({only_a} only in the first, "
                         f"{only_b} only in the second): evaluate both systems on the same sample")
    if not a_items:
        raise ValueError(f"{a_path}: no item records")
    clusters = sorted({c for c, _ in a_items.values()}, key=str)
    index = {c: i for i, c in enumerate(clusters)}
    figures = [f for f in LABELS if any(f in v for _, v in a_items.values())]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(clusters), np.full(len(clusters), 1 / len(clusters)), size=resamples)
    out = []
    for fig in figures:
        sums = np.zeros((3, len(clusters)))  # A's sum, B's sum, count, per cluster
        a_better = b_better = 0
        for key, (cluster, va) in a_items.items():
            if fig not in va:
                continue
            vb = b_items[key][1].get(fig, 0.0)
            i = index[cluster]
            sums[:, i] += (va[fig], vb, 1.0)
            a_better += va[fig] > vb
            b_better += vb > va[fig]
        n = int(sums[2].sum())
        a, b = sums[0].sum() / n, sums[1].sum() / n
        counts = weights @ sums[2]
        ok = counts > 0  # a resample may draw no cluster that carries this figure
        diffs = (weights[ok] @ sums[0] - weights[ok] @ sums[1]) / counts[ok]
        low, high = np.percentile(diffs, [2.5, 97.5])
        out.append(Paired(benchmark, fig, n, int((sums[2] > 0).sum()), float(a), float(b),
                          float(a - b), float(low), float(high), int(a_better), int(b_better)))
    return out


def compare_folder(folder: Path, a: str, b: str, benchmarks: list[str] | None = None,
                   b_folder: Path | None = None, **kwargs: Any) -> list[Paired]:
    """Every benchmark with items files for both systems in a suite's output folder, or for
    system `a` in `folder` and `b` in `b_folder` (the same system run two ways, e.g. with and
    without the runtime's safeguards)."""
    folder = Path(folder)
    b_folder = Path(b_folder) if b_folder else folder
    found = [p.name[: -len(f"-{a}.items.jsonl")] for p in folder.glob(f"*-{a}.items.jsonl")]
    found.sort(key=suite_order)
    names = benchmarks or [n for n in found if (b_folder / f"{n}-{b}.items.jsonl").exists()]
    if not names:
        raise ValueError(f"{folder}: no benchmark has item records for both {a!r} and {b!r}")
    rows = []
    for name in names:
        paths = [folder / f"{name}-{a}.items.jsonl", b_folder / f"{name}-{b}.items.jsonl"]
        for p in paths:
            if not p.exists():
                raise ValueError(f"{p}: missing (run `umi eval suite` for this system and benchmark)")
        rows += compare(name, *paths, **kwargs)
    return rows


def markdown(rows: list[Paired], a: str, b: str, resamples: int = RESAMPLES) -> str:
    lines = [f"| benchmark | figure | n | {a} | {b} | {a} − {b} (95% CI) | {a} better | {b} better |",
             "|---|---|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        sig = "" if r.low <= 0 <= r.high else " *"
        lines.append(f"| {r.benchmark} | {LABELS[r.figure]} | {r.n} | {pct(r.a)} | {pct(r.b)} | "
                     f"{100 * r.diff:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}]{sig} | "
                     f"{r.a_better} | {r.b_better} |")
    return ("\n".join(lines) + "\n\nPercent. Interval: 95% percentile bootstrap over whole items "
            f"(static: trajectories), {resamples} resamples; * marks an interval that excludes 0.\n")


FAULT_LABELS = {"caller_outputs": "caller outputs", "invalid_json": "invalid JSON", "not_offered": "tool not offered",
                "missing_required": "missing required arg.", "unparsed": "no call parsed",
                "repeated_calls": "repeated calls", "repeated_failing": "repeated failing calls",
                "stuck": "stuck", "ungrounded": "ungrounded", "needs_input": "needs input"}


def fault_rows(runs: list[tuple[str, Path, str]], benchmarks: list[str]) -> list[dict[str, Any]]:
    """Per benchmark and run (label, folder, system): the call faults and endings its report counts."""
    rows = []
    for bench in benchmarks:
        for label, folder, system in runs:
            path = Path(folder) / f"{bench}-{system}.json"
            if not path.exists():
                continue
            report = json.loads(path.read_text(encoding="utf-8"))
            faults = dict(report.get("faults") or {})
            if "statuses" in report:
                faults["needs_input"] = report["statuses"].get("needs_input", 0)
            rows.append({"benchmark": bench, "run": label, "n": report.get("n"), **faults})
    return rows


def faults_markdown(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in FAULT_LABELS if any(k in r for r in rows)]
    lines = ["| benchmark | run | n | " + " | ".join(FAULT_LABELS[k] for k in keys) + " |",
             "|---|---|---:|" + "---:|" * len(keys)]
    for r in rows:
        lines.append(f"| {r['benchmark']} | {r['run']} | {r['n']} | "
                     + " | ".join(str(r.get(k, "–")) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def write(rows: list[Paired], a: str, b: str, out: Path, resamples: int = RESAMPLES,
          faults: list[dict[str, Any]] | None = None, note: str = "") -> dict[str, Path]:
    """`<out>.json` and `<out>.md`, each written atomically (with the fault counts when given, and
    `note`, what the two runs are, under the heading)."""
    out = Path(out)
    paths = {"json": out.with_suffix(".json"), "md": out.with_suffix(".md")}
    write_json(paths["json"], {"a": a, "b": b, "resamples": resamples, "rows": [r.to_dict() for r in rows],
                               "faults": faults or [], **({"note": note} if note else {})})
    with atomic_open(paths["md"]) as f:
        f.write(f"### {a} vs {b}, paired on the same items\n\n" + (f"{note}\n\n" if note else "")
                + markdown(rows, a, b, resamples))
        if faults:
            f.write("\n### Call faults and endings (counts over each benchmark's items)\n\n" + faults_markdown(faults))
    return paths


Run = tuple[str, Path, str]  # (label, suite folder, system)


def compare_runs(a: Run, b: Run, out: Path, benchmarks: list[str] | None = None, resamples: int = RESAMPLES,
                 note: str = "") -> tuple[list[Paired], list[dict[str, Any]], dict[str, Path]]:
    """Run `a` against run `b` on every benchmark both have items for (or `benchmarks`), written
    to `<out>.json` and `<out>.md` with their call faults; returns the rows, faults and paths."""
    rows = compare_folder(a[1], a[2], b[2], benchmarks, b_folder=b[1], resamples=resamples)
    faults = fault_rows([a, b], list(dict.fromkeys(r.benchmark for r in rows)))
    return rows, faults, write(rows, a[0], b[0], out, resamples, faults, note)
