"""The runaway tool of `bench_faults.py`, in a module of its own: a `cpu_bound` tool runs in a
worker process that imports it by module and name, so it cannot live in a script's `__main__`.
The worker gets the server's `sys.path`, which holds this folder when the benchmark is run as
`python benchmarks/bench_faults.py`."""

from __future__ import annotations

from multiagentllm.tools import ToolRegistry, default_registry, tool

FAULTS = "faults"  # the tool set a runaway episode asks for


def power_bits(exponent: int) -> dict:
    """Number of bits of 7 raised to a power.

    Args:
        exponent: The power of 7.
    """
    # One big-integer power: a single C call that holds the GIL until it ends (~10 s for
    # 16,000,000 on a 2020s x86 core); no Python bytecode runs inside it to be interrupted.
    return {"bits": (7 ** exponent).bit_length()}


def fault_registry(*, cpu_bound: bool) -> ToolRegistry:
    """The built-in tools plus `power_bits`, run in a killable worker process (`cpu_bound`) or in
    a thread of the server (the behaviour before issue 20's fix)."""
    registry = default_registry()
    registry.register(tool(power_bits, domain=FAULTS, cpu_bound=cpu_bound))
    return registry
