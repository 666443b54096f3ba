"""Tools that cannot stall their process: bounded arithmetic, timeouts that end the work, results
that are always JSON, a bounded validator cache."""

from __future__ import annotations

import ctypes
import json
import os
import re
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from multiagentllm.tools import ToolRegistry, default_registry, registry, tool
from multiagentllm.tools.registry import validate_arguments


def burn(digits: int, pidfile: str) -> int:
    """A runaway computation: one big-integer power, a single C call that never lets go of the GIL.

    Args:
        digits: Digits of the power of ten to compute.
        pidfile: Where to write the process id before starting.
    """
    Path(pidfile).write_text(str(os.getpid()))
    return 10 ** digits


def hold(seconds: int) -> str:
    """One C call that holds the GIL for a while without using the CPU (libc's sleep called
    through PyDLL), then a little more work.

    Args:
        seconds: How long.
    """
    ctypes.PyDLL(None).sleep(seconds)
    time.sleep(0.5)
    return "done"


def die(code: int) -> int:
    """Ends its process at once.

    Args:
        code: The exit code.
    """
    os._exit(code)


def stateful(world: object, x: int) -> int:
    """Needs the registry's world.

    Args:
        x: A number.
    """
    return x


def answer(kind: str) -> object:
    """Returns a result that strict JSON cannot hold.

    Args:
        kind: Which one.
    """
    return {"huge": 10 ** 5000, "inf": float("inf"), "nan": [1.0, float("nan")],
            "ok": {"x": [1, 2.5, "three"]}}[kind]


class Ticker:
    """A thread that notes the time every 5 ms: its longest gap is how long the process stood still."""

    def __init__(self) -> None:
        self.stamps = [time.monotonic()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.stamps.append(time.monotonic())

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stamps.append(time.monotonic())
        self._stop.set()
        self._thread.join()

    @property
    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.stamps, self.stamps[1:]))


def strict_json(text: str) -> object:
    """json.loads that, like every other JSON reader, refuses Infinity and NaN."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def error_of(obs) -> str:
    assert not obs.ok
    assert strict_json(obs.content) == {"error": obs.error}
    return obs.error


@pytest.fixture(scope="module")
def reg() -> ToolRegistry:
    return default_registry(timeout=5)


def test_chained_powers_are_refused_at_once_while_other_threads_run(reg):
    # ((10**1000)**1000)**10 passed the old per-`**` exponent check and held the GIL for seconds
    with Ticker() as ticker:
        start = time.monotonic()
        msg = error_of(reg.call("calculate", {"expression": "((10**1000)**1000)**10"}, timeout=1))
        elapsed = time.monotonic() - start
    assert "too large" in msg
    assert elapsed < 3 and ticker.longest_gap < 1


@pytest.mark.parametrize("expression, expected", [
    ("(10**1000)**5", "result too large: more than 1000 digits"),
    ("9**9**9", "result too large: more than 1000 digits"),
    ("10**999 * 10", "result too large: more than 1000 digits"),
    ("round(5, -10**6)", "ndigits must be between"),
    ("1e308 * 10", "result too large for a floating-point number"),
    ("1e999 - 1e999", "result too large for a floating-point number"),
    ("exp(1000)", "result too large for a floating-point number"),
    ("(-8) ** 0.5", "not a real number"),
    ("1" + "+1" * 1500, "expression too long"),
])
def test_every_intermediate_result_of_calculate_is_bounded(reg, expression, expected):
    assert expected in error_of(reg.call("calculate", {"expression": expression}))


def test_large_but_bounded_results_still_work(reg):
    def ok(expression: str) -> object:
        return strict_json(reg.call("calculate", {"expression": expression}).content)["result"]

    assert ok("2**3000") == 2 ** 3000 and ok("10**999 // 10**998") == 10
    assert ok("2**-5000") == 0 and ok("round(1234.5678, -2)") == 1200


def test_a_runaway_tool_is_killed_while_other_threads_keep_running(tmp_path, reg):
    runaway = ToolRegistry(default_timeout=1)
    runaway.register(tool(burn, cpu_bound=True))
    pidfile = tmp_path / "pid"
    box = {}

    def run_away() -> None:
        start = time.monotonic()
        box["obs"] = runaway.call("burn", {"digits": 10 ** 8, "pidfile": str(pidfile)})
        box["elapsed"] = time.monotonic() - start

    with Ticker() as ticker:
        thread = threading.Thread(target=run_away)
        thread.start()
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()  # the runaway is computing: an ordinary call still answers
        assert strict_json(reg.call("calculate", {"expression": "6*7"}).content)["result"] == 42
        assert time.monotonic() - start < 5
        thread.join(60)
    msg = error_of(box["obs"])
    assert re.search(r"(timed out after|past its) 1 s", msg)
    assert box["elapsed"] < 10  # starting a worker (not part of the timeout) plus 1 s
    assert ticker.longest_gap < 1
    with pytest.raises(ProcessLookupError):  # the computation really ended: its process is gone
        os.kill(int(pidfile.read_text()), 0)


def test_a_timeout_that_cannot_stop_the_thread_says_how_long_it_took():
    reg = ToolRegistry(default_timeout=0.1)
    reg.register(hold)  # not cpu_bound: runs in a thread, which a C call holding the GIL defies
    msg = error_of(reg.call("hold", {"seconds": 2}))
    held = float(re.search(r"held up its caller for ([\d.]+) s", msg).group(1))
    assert "ran past its 0.1 s time limit" in msg and held >= 1.5


def test_a_worker_that_dies_is_an_observation_and_is_replaced():
    reg = ToolRegistry()
    reg.register(tool(die, cpu_bound=True))
    assert "worker process ended (exit code 3)" in error_of(reg.call("die", {"code": 3}))
    assert "exit code 4" in error_of(reg.call("die", {"code": 4}))


def test_cpu_bound_tools_must_be_importable_and_world_free():
    def local(x: int) -> int:
        """Local.

        Args:
            x: A number.
        """
        return x

    for fn in (local, stateful):
        with pytest.raises(ValueError, match="top level of an importable module and take no `world`"):
            tool(fn, cpu_bound=True)


@pytest.mark.parametrize("cpu_bound", [False, True])
@pytest.mark.parametrize("kind, expected", [
    ("huge", "an integer too long to write out"),
    ("inf", "an infinite or NaN number"),
    ("nan", "an infinite or NaN number"),
])
def test_results_that_json_cannot_hold_become_error_observations(cpu_bound, kind, expected):
    reg = ToolRegistry(default_timeout=10)
    reg.register(tool(answer, cpu_bound=cpu_bound))
    msg = error_of(reg.call("answer", {"kind": kind}))
    assert msg == f"tool 'answer' returned a result that is not valid JSON: it holds {expected}"
    assert strict_json(reg.call("answer", {"kind": "ok"}).content) == {"x": [1, 2.5, "three"]}


def test_huge_arguments_are_described_not_crashed_on():
    schema = {"name": "f", "parameters": {"type": "object", "properties": {"s": {"type": "string"}}}}
    assert "must be string, got integer (too long to show)" in validate_arguments(schema, {"s": 10 ** 5000})


def test_the_validator_cache_is_bounded():
    def schema(i: int) -> dict:
        props = {f"p{j}": {"type": "string", "description": f"parameter {j} of tool {i}. " * 8}
                 for j in range(20)}  # about 5 KB of JSON
        return {"name": f"t{i}", "parameters": {"type": "object", "properties": props}}

    def validate(first: int, n: int) -> None:
        for i in range(first, first + n):
            assert validate_arguments(schema(i), {"p0": "x"}) is None

    validate(0, 200)  # fill whatever cache there is
    tracemalloc.start(12)
    try:
        validate(200, 400)  # 400 new client schemas, as a server sees them
        kept = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # what those calls allocated and is still held (not what other threads did meanwhile)
    ours = kept.filter_traces([tracemalloc.Filter(True, registry.__file__, all_frames=True)])
    held = sum(stat.size for stat in ours.statistics("filename"))
    assert held < 3_000_000, f"{held / 1e6:.1f} MB kept for 400 schemas"
