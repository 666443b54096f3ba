"""Tool retrieval recall: how often BM25 (`multiagentllm.tools.retrieval`) puts the gold tools among
the k it offers, side by side with the baseline "first-k in registry order" (what a prompt
truncated to k tools would hold without retrieval).

* test split: each trajectory of the held-out split, gold = the tools its steps call; the pool is
  every distinct tool in the file (first schema per name), so retrieval must find the gold among
  thousands, in order of first appearance.
* BFCL multiple: each item offers a few functions and expects one call; the pool is the item's
  own functions, and again every distinct function of the file.

recall@k = |gold in the k selected| / |gold|, averaged over items that call a tool; "all gold" is
the share of items with every gold tool selected.  Items are searched by their instruction alone
(nothing kept).

Run:  .venv/bin/python benchmarks/bench_retrieval.py [--data FILE] [--bfcl FILE] [--out results/retrieval]

Writes OUT/recall.json and OUT/recall.md.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from multiagentllm.tools.retrieval import DEFAULT_K, retriever_for

ROOT = Path(__file__).resolve().parents[1]
KS = sorted({1, 3, 5, DEFAULT_K, 10})
BFCL = "gorilla/berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v4_multiple.json"


@dataclass
class Case:
    query: str
    gold: set[str]
    pool: list[dict]
    group: str = ""


def distinct(tools) -> list[dict]:
    """Tools in order of first appearance, one schema per name (the first)."""
    pool: dict[str, dict] = {}
    for t in tools:
        pool.setdefault(t["name"], t)
    return list(pool.values())


def test_split_cases(path: Path) -> list[Case]:
    from multiagentllm.io import read_trajectories

    trajs = list(read_trajectories(path))
    pool = distinct(t for traj in trajs for t in traj.tools)
    return [Case(t.instruction, {c.name for c in t.calls}, pool, t.source) for t in trajs if t.calls]


def bfcl_cases(path: Path) -> tuple[list[Case], list[Case]]:
    from multiagentllm.data.loaders.bfcl import load_bfcl

    items = [i for i in load_bfcl(path) if i.calls]
    pool = distinct(t for i in items for t in i.tools)
    own = [Case(i.instruction, {c.name for c in i.calls}, i.tools) for i in items]
    return own, [Case(c.query, c.gold, pool) for c in own]


def measure(cases: list[Case]) -> dict:
    """recall@k and all-gold@k of BM25 and of first-k, per k; with per-group recall@DEFAULT_K."""
    sums = {(m, s, k): 0.0 for m in ("bm25", "first_k") for s in ("recall", "all_gold") for k in KS}
    groups: dict[str, list[float]] = {}
    start = time.perf_counter()
    for case in cases:
        retriever = retriever_for(case.pool)  # cached: one index per distinct pool
        for k in KS:
            for method, chosen in (("bm25", retriever.select(case.query, k)),
                                   ("first_k", retriever.names[:k])):
                hit = len(case.gold & set(chosen))
                sums[method, "recall", k] += hit / len(case.gold)
                sums[method, "all_gold", k] += hit == len(case.gold)
                if method == "bm25" and k == DEFAULT_K and case.group:
                    groups.setdefault(case.group, []).append(hit / len(case.gold))
    n = max(1, len(cases))
    out: dict = {"items": len(cases), "pool": sorted({len(c.pool) for c in cases}),
                 "seconds": round(time.perf_counter() - start, 2)}
    for (method, stat, k), total in sums.items():
        out.setdefault(method, {}).setdefault(stat, {})[str(k)] = round(total / n, 4)
    if groups:
        out["bm25_recall_at_default_k_by_source"] = {g: round(sum(v) / len(v), 4) for g, v in sorted(groups.items())}
    return out


def pool_text(pools: list[int]) -> str:
    return f"{pools[0]}" if len(pools) == 1 else f"{pools[0]}-{pools[-1]} (per item)"


def markdown(results: dict) -> str:
    head = "| set | pool (tools) | items | method | " + " | ".join(f"R@{k}" for k in KS) + " |"
    lines = [f"# Tool retrieval recall (BM25, `tools/retrieval.py`, DEFAULT_K = {DEFAULT_K})", "",
             "recall@k of the gold tools; baseline: the first k tools in registry order; "
             "ratio = BM25 / baseline; all gold = share of items with every gold tool selected.", "",
             head, "|" + "---|" * (5 + len(KS) - 1)]
    for name, r in results.items():
        rows = [("BM25", [r["bm25"]["recall"][str(k)] for k in KS]),
                ("first-k (baseline)", [r["first_k"]["recall"][str(k)] for k in KS]),
                ("ratio", [fmt_ratio(ratio(r, k)) for k in KS]),
                ("BM25, all gold", [r["bm25"]["all_gold"][str(k)] for k in KS])]
        for i, (method, cells) in enumerate(rows):
            lead = f"| {name} | {pool_text(r['pool'])} | {r['items']} |" if i == 0 else "| | | |"
            lines.append(f"{lead} {method} | " + " | ".join(c if isinstance(c, str) else f"{c:.3f}" for c in cells) + " |")
    by_source = results.get("test split", {}).get("bm25_recall_at_default_k_by_source")
    if by_source:
        lines += ["", f"Test split, BM25 recall@{DEFAULT_K} by source: "
                  + ", ".join(f"{s} {v:.3f}" for s, v in by_source.items())]
    return "\n".join(lines) + "\n"


def ratio(r: dict, k: int) -> float | None:
    base = r["first_k"]["recall"][str(k)]
    return round(r["bm25"]["recall"][str(k)] / base, 2) if base else None


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def main() -> None:
    from multiagentllm.paths import default_data_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "out/data/trajectories/test.jsonl",
                    help="a canonical test split (JSONL)")
    ap.add_argument("--bfcl", type=Path, help=f"BFCL multiple questions [default: DATA_ROOT/{BFCL}]")
    ap.add_argument("--out", type=Path, default=ROOT / "results/retrieval")
    args = ap.parse_args()

    sets: dict[str, list[Case]] = {}
    if args.data.exists():
        sets["test split"] = test_split_cases(args.data)
    else:
        print(f"test split skipped: no {args.data} (run `umi data build`)")
    bfcl = args.bfcl or default_data_root() / BFCL
    if bfcl.exists():
        sets["BFCL multiple, own functions"], sets["BFCL multiple, all functions"] = bfcl_cases(bfcl)
    else:
        print(f"BFCL skipped: no {bfcl}")

    results = {}
    for name, cases in sets.items():
        r = results[name] = measure(cases)
        print(f"{name}: {r['items']} items, pool {pool_text(r['pool'])} tools, {r['seconds']} s")
        for k in KS:
            print(f"  recall@{k:<2}  BM25 {r['bm25']['recall'][str(k)]:.3f}   first-k {r['first_k']['recall'][str(k)]:.3f}"
                  f"   ratio {fmt_ratio(ratio(r, k))}   all gold (BM25) {r['bm25']['all_gold'][str(k)]:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recall.json").write_text(json.dumps({"default_k": DEFAULT_K, "ks": KS, "sets": results}, indent=2) + "\n")
    (args.out / "recall.md").write_text(markdown(results))
    print(f"wrote {args.out}/recall.json and recall.md")


if __name__ == "__main__":
    main()
