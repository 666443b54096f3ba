"""Evaluation throughput, side by side in one run: step-level ("static") evaluation of a trained
trio on items of the held-out test split, generated two ways by `eval.generate.Generator`:

* baseline: prompts sorted by length, 8 per padded batch (`--batch-size 8`, the usual way to
  batch generation);
* project: one prompt at a time in request order (`--batch-size 1`): the steps of one item
  reach the lean runner back to back, so it prefills only each step's new tokens (prefix reuse)
  and verifies prompt-lookup drafts.

The same two ways run BFCL `simple_python` episodes (`--bfcl-items`, where the public datasets
are found): in rounds of batches across items, against one item after another, so that each
role's next prompt extends its previous one.

Both run on the same prompts with the same model in this process (no cache), each timed wall
clock and in CPU seconds of the process; the ratio and the share of identical outputs are
printed. Greedy decoding, so outputs should match except where padding changes a near-tie.

Run:  .venv/bin/python benchmarks/bench_eval.py [--checkpoint DIR] [--data FILE] [--items 3] [--threads 2]

Defaults: the shipped checkpoint, and the built test split `out/data/trajectories/test.jsonl`
(the repository's fixture trajectories where no data has been built).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="a trained checkpoint (default: the shipped one)")
    ap.add_argument("--data", type=Path, help="a canonical test split (JSONL)")
    ap.add_argument("--items", type=int, default=3, help="test items (every step of each is evaluated)")
    ap.add_argument("--bfcl-items", type=int, default=6, help="BFCL simple items (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from multiagentllm.eval.generate import Generator, System
    from multiagentllm.eval.suite import data_root
    from multiagentllm.eval.benchmarks.static import _cases, load_test_trajectories
    from multiagentllm.io import SkipReport
    from multiagentllm.models import load_llm

    data = args.data or next(p for p in (ROOT / "out/data/trajectories/test.jsonl",
                                         ROOT / "tests/fixtures/trajectories.jsonl") if p.exists())
    trajs = load_test_trajectories(data, SkipReport())[: args.items]
    llm = load_llm(args.checkpoint)
    system = System(llm)
    requests = [c.request for c in _cases(Generator(system, progress=False), trajs)]
    print(f"{data}: {len(trajs)} items, {len(requests)} prompts; {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f}")

    if requests:
        side_by_side(system, "static steps", lambda gen: gen.run(requests))

    bfcl = data_root() / "gorilla/berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v4_simple_python.json"
    if args.bfcl_items and bfcl.exists():
        from multiagentllm.eval.benchmarks.bfcl import evaluate_bfcl

        print(f"BFCL simple_python: the first {args.bfcl_items} items")
        side_by_side(system, "BFCL episodes", lambda gen: [
            r.get("outputs") for r in evaluate_bfcl(bfcl, gen, limit=args.bfcl_items)[1]])
    elif args.bfcl_items:
        print(f"BFCL skipped: no {bfcl}")


def side_by_side(system, what, work) -> None:
    """Run `work(generator)` batched x8 (baseline) and one prompt at a time; print the ratio."""
    from multiagentllm.eval.generate import Generator

    runs = {}
    for label, batch in (("batched x8, by length (baseline)", 8), ("one at a time, in order", 1)):
        gen = Generator(system, batch_size=batch, progress=False)
        wall, cpu = time.perf_counter(), time.process_time()
        outputs = work(gen)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs[batch] = (outputs, wall, cpu)
        print(f"  {label:34s} {wall:7.1f} s wall  {cpu:7.1f} CPU-s  {gen.generated} prompts, "
              f"{wall / max(gen.generated, 1):5.2f} s/prompt")
    (base, bw, bc), (ours, ow, oc) = runs[8], runs[1]
    same = sum(a == b for a, b in zip(base, ours)) / len(base)
    print(f"  {what} speed-up: {bw / ow:.2f}x wall, {bc / oc:.2f}x CPU time; identical outputs: {same:.0%}")


if __name__ == "__main__":
    main()
