"""The benchmarks, one file each (nanochat's `tasks/` style): what items a benchmark reads, how a
system is run on them and how an item is scored. `umi eval suite` and `umi eval <benchmark>` both
go through them.

Adding a benchmark: a new file here with its `BENCHMARKS` (see `base.Benchmark`), and its module
in the line below. That order is the order of the suite's runs and of the results table's columns.
"""

from __future__ import annotations

from multiagentllm.eval.benchmarks import apibench, bfcl, passrate, static, taubench
from multiagentllm.eval.benchmarks.base import Benchmark, Items, Missing, Where

BENCHMARKS: dict[str, Benchmark] = {b.name: b for module in (static, passrate, bfcl, apibench, taubench)
                                    for b in module.BENCHMARKS}
DEFAULT: tuple[str, ...] = tuple(name for name, b in BENCHMARKS.items() if b.default)  # run unless others are named


def suite_order(name: str) -> tuple[int, str]:
    """Sort key: the registered benchmarks in the suite's order, then any other by name."""
    order = list(BENCHMARKS)
    return (order.index(name) if name in order else len(order), name)

__all__ = ["BENCHMARKS", "DEFAULT", "suite_order", "Benchmark", "Items", "Missing", "Where"]
