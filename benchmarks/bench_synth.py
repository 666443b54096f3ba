"""Synthesis throughput: verified trajectories per second (generation + verification + dedup).

    .venv/bin/python benchmarks/bench_synth.py --n 5000 [--workers 2]

Baseline named by the issue: 20,000 trajectories in 10 minutes on the 2-core machine, i.e.
33.3 trajectories/s. The real-instruction sources are measured separately (they are a fixed set).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from multiagentllm.data.synth.engine import synthesize

BASELINE = 20000 / 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--real", action="store_true", help="also time the real-instruction sources")
    args = parser.parse_args()
    start = time.perf_counter()
    trajs, report = synthesize(args.n, args.seed, workers=args.workers)
    secs = time.perf_counter() - start
    rate = len(trajs) / secs
    print(f"synthetic: {len(trajs)} trajectories in {secs:.1f} s = {rate:.0f}/s "
          f"({rate / BASELINE:.1f}x the 20k-in-10-min baseline of {BASELINE:.1f}/s); "
          f"{report['instructions_tried']} instructions, rejects {report['rejects']}")
    if args.real:
        from multiagentllm.paths import default_data_root
        from multiagentllm.data.synth.real import REAL_SOURCES, real_trajectories

        for name in REAL_SOURCES:
            rejects: Counter = Counter()
            start = time.perf_counter()
            out = real_trajectories(Path(default_data_root()), [name], args.seed, rejects)
            print(f"real {name}: {len(out)} in {time.perf_counter() - start:.1f} s, rejects {sum(rejects.values())}")


if __name__ == "__main__":
    main()
