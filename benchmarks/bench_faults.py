"""Fault benchmark: what a runaway tool and held connections do to the server's other clients,
each faulted run next to a baseline in the same run, with the ratio.

    .venv/bin/python benchmarks/bench_faults.py [--clients 8] [--requests 1600] [--held 500]
                                                [--quick] [--out results/faults]

In every run, `--clients` threads send `--requests` normal agent episodes ("what is i plus j":
planner, caller, the `calculate` tool, planner, summarizer; scripted model, see bench_serve.py),
while another thread probes `/health` every 50 ms on a fixed schedule (open loop: a probe that falls
due while the server stands still is sent anyway and waits, so a freeze shows as slow probes for
its whole length, not as one slow sample).

1. runaway  a further client sends, back to back, episodes whose tool call runs away: one
            big-integer power, a single C call that holds the GIL for ~10 s (`fault_tools.py`),
            with a 1 s tool timeout. No new runaway episode starts after `--runaway-window` s.
   arms     baseline: no runaway client; `cpu_bound`: the tool runs in a worker process that the
            timeout kills (issue 20's fix); `thread`: the same tool run in a thread of the server
            (the behaviour before the fix).
2. held     `--held` raw connections send a request head and half a body, then hold (slowloris);
            each one the server closes is opened again 0.1 s later, so the count stays up.
   arms     baseline: none held; below the connection cap (`max_connections` = 2 x held); above
            it (the default cap of 256, or held / 2 when fewer are held); and connections that
            hold half a request *head*, above the cap. Short limits keep the run short:
            `read_timeout` 3 s, `keep_alive_timeout` 2 s (1 s and 1 s with --quick).

Every response's status is tallied: 5xx (uvicorn's 503 at the connection cap counted apart),
requests lost (no response), and whether the server process is alive at the end. Each server
runs in a process of its own (its open file descriptors are read from /proc: Linux only); the
clients are threads of this process. The machine's cores may be shared: the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import re
import selectors
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from bench_serve import RuleModel, agent_over_http, drive
from fault_tools import FAULTS, fault_registry

from multiagentllm.agent import AgentConfig
from multiagentllm.serve import ServeConfig, ServerThread, create_app

CHAT = "/v1/chat/completions"
_POWER = re.compile(r"7 to the power (\d+)")


class FaultModel(RuleModel):
    """bench_serve's scripted model; asked for a power of 7, its caller calls `power_bits`."""

    @staticmethod
    def _one(prompt: str) -> str:
        found = _POWER.search(prompt)
        if found and prompt.endswith("Next: Caller\n"):
            return f'Action: power_bits\nAction Input: {{"exponent": {found[1]}}}'
        return RuleModel._one(prompt)


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50, p95 and max in ms (None where there are too few values)."""
    ms = sorted(x * 1000 for x in seconds)
    return {"p50_ms": round(statistics.median(ms), 1) if ms else None,
            "p95_ms": round(statistics.quantiles(ms, n=20)[-1], 1) if len(ms) > 1 else None,
            "max_ms": round(ms[-1], 1) if ms else None}


# --- the server, in a process of its own -------------------------------------------------------

@dataclass
class ServerSpec:
    cpu_bound: bool = True  # how `power_bits` runs
    tool_timeout: float = 1.0
    max_connections: int = 256
    read_timeout: float = 30.0
    keep_alive_timeout: int = 5


def _serve_child(spec: ServerSpec, conn: Any) -> None:
    config = ServeConfig(agent=AgentConfig(tool_timeout=spec.tool_timeout), max_connections=spec.max_connections,
                         read_timeout=spec.read_timeout, keep_alive_timeout=spec.keep_alive_timeout)
    app = create_app(FaultModel(), fault_registry(cpu_bound=spec.cpu_bound), config=config)
    server = ServerThread(app)
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)  # not a line per refusal at the cap
    with server as url:
        conn.send((url, server.host, server.port, os.getpid()))
        conn.recv()  # until the parent is done


class ServerProcess:
    """`with ServerProcess(spec) as server:` a server on loopback at `server.url`. Unlike
    bench_serve's `server_process`, it takes the limits and tells its process id."""

    def __init__(self, spec: ServerSpec):
        self.spec = spec
        ctx = multiprocessing.get_context("spawn")  # not fork: this process has threads
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_child, args=(spec, child), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.proc.start()
        if not self.conn.poll(120):
            raise RuntimeError("the server did not start")
        self.url, self.host, self.port, self.pid = self.conn.recv()
        one = agent_over_http(self.url)
        with httpx.Client(timeout=60) as http:  # warm up: tool workers started, code paths run once
            for i in range(16):
                one(i, http)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.conn.send("stop")
        except OSError:  # it is gone already
            pass
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)

    def alive(self) -> bool:
        return self.proc.is_alive()

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def children(self) -> int:
        """Child processes (the tool workers)."""
        found = set()
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            found.update((task / "children").read_text().split())
        return len(found)


# --- what the clients see ----------------------------------------------------------------------

class Tally:
    """Every status a client got (an httpx response hook); `cap` counts uvicorn's own plain-text
    503 at the connection cap, apart from the server's JSON errors."""

    def __init__(self) -> None:
        self.statuses: Counter = Counter()
        self.cap = 0
        self._lock = threading.Lock()

    def __call__(self, response: httpx.Response) -> None:
        at_cap = response.status_code == 503 and response.headers.get("content-type", "").startswith("text/plain")
        with self._lock:
            self.statuses[response.status_code] += 1
            self.cap += at_cap

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(timeout=120, event_hooks={"response": [self]}, **kw)

    def summary(self, sent: int) -> dict[str, Any]:
        got = sum(self.statuses.values())
        fives = sum(v for k, v in self.statuses.items() if k >= 500)
        return {"statuses": dict(sorted(self.statuses.items())), "5xx": fives, "5xx_at_cap": self.cap,
                "lost": sent - got}


class HealthProbe:
    """GET /health every `every` s on a fixed schedule from a pool of threads; a probe's latency
    counts from when it fell due."""

    def __init__(self, url: str, every: float = 0.05, threads: int = 64):
        self.url, self.every = url, every
        self.tally = Tally()
        self.http = self.tally.client(limits=httpx.Limits(max_connections=threads))
        self.pool = ThreadPoolExecutor(threads)
        self.latencies: list[float] = []
        self.failures: Counter = Counter()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._schedule, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.pool.shutdown(wait=True)
        self.http.close()

    def _schedule(self) -> None:
        due = time.perf_counter()
        while not self._stop.is_set():
            self.pool.submit(self._probe, due)
            self.sent += 1
            due += self.every
            self._stop.wait(max(0.0, due - time.perf_counter()))

    def _probe(self, due: float) -> None:
        try:
            self.http.get(f"{self.url}/health")
        except httpx.HTTPError as e:  # lost
            self.failures[f"{type(e).__name__}: {e}"] += 1
            return
        self.latencies.append(time.perf_counter() - due)

    def summary(self) -> dict[str, Any]:
        return {"probes": self.sent, **percentiles(self.latencies), **self.tally.summary(self.sent),
                "lost_as": dict(self.failures)}


class RunawayClient:
    """Runaway episodes back to back from a thread, until stopped or `window` s have passed."""

    def __init__(self, url: str, exponent: int, window: float):
        self.url, self.window = url, window
        self.body = {"model": "alpha-umi", "toolset": FAULTS, "messages": [
            {"role": "user", "content": f"how many bits has 7 to the power {exponent}?"}]}
        self.tally = Tally()
        self.latencies: list[float] = []
        self.observations: Counter = Counter()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RunawayClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()  # the episode under way ends first

    def _run(self) -> None:
        ends = time.perf_counter() + self.window
        with self.tally.client() as http:
            while not self._stop.is_set() and time.perf_counter() < ends:
                started = time.perf_counter()
                self.sent += 1
                try:
                    reply = http.post(f"{self.url}{CHAT}", json=self.body)
                except httpx.HTTPError:
                    continue
                self.latencies.append(time.perf_counter() - started)
                steps = reply.json().get("umi", {}).get("steps", []) if reply.status_code == 200 else []
                seen = [s["observation"] for s in steps if "observation" in s]
                # "... timed out after 1 s" or "ran past its 1 s time limit and held up ..." or a result
                self.observations[re.sub(r"\d+(\.\d+)?", "N", seen[0])[:90] if seen else "none"] += 1

    def summary(self) -> dict[str, Any]:
        return {"episodes": self.sent, **percentiles(self.latencies), **self.tally.summary(self.sent),
                "observations": dict(self.observations)}


SLOW_BODY = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 1000\r\n\r\n{\"model\": ")
HALF_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty"


class HeldConnections:
    """`n` raw connections that send part of a request and hold; each one the server answers (or
    closes) is closed and opened again `reopen_after` s later. `whole_head`: the head and half a
    body (the body read timeout should answer 408); else half a head."""

    def __init__(self, host: str, port: int, n: int, *, whole_head: bool = True, reopen_after: float = 0.1,
                 hold_at_least: float = 0.0):
        self.address, self.n, self.reopen_after, self.hold_at_least = (host, port), n, reopen_after, hold_at_least
        self.payload = SLOW_BODY if whole_head else HALF_HEAD
        self.selector = selectors.DefaultSelector()
        self.answers: Counter = Counter()  # the server's status line (or "closed"), per connection it ended
        self.held_for: list[float] = []  # seconds from sending to the server's answer
        self.open_failures = 0
        self._reopen: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HeldConnections:
        self.started = time.perf_counter()
        for _ in range(self.n):
            self._open()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.wait(max(0.0, self.started + self.hold_at_least - time.perf_counter()))
        self._stop.set()
        self._thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()

    def _open(self) -> None:
        sock = None
        try:
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(self.payload)
        except OSError:
            if sock is not None:
                sock.close()
            self.open_failures += 1
            self._reopen.append(time.perf_counter() + self.reopen_after)
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, time.perf_counter())

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(0.05):
                try:
                    first = key.fileobj.recv(4096)
                except OSError:
                    first = b""
                self.answers[first[9:12].decode() if first.startswith(b"HTTP/1.1 ") else "closed"] += 1
                self.held_for.append(time.perf_counter() - key.data)
                self.selector.unregister(key.fileobj)
                key.fileobj.close()
                self._reopen.append(time.perf_counter() + self.reopen_after)
            now = time.perf_counter()
            due, self._reopen = [t for t in self._reopen if t <= now], [t for t in self._reopen if t > now]
            for _ in due:
                self._open()

    def summary(self) -> dict[str, Any]:
        held = sorted(self.held_for)
        return {"held": self.n, "held_s": round(time.perf_counter() - self.started, 1),
                "ended_by_server": dict(self.answers), "open_failures": self.open_failures,
                "ended_after_s": {"min": round(held[0], 2), "p50": round(statistics.median(held), 2),
                                  "max": round(held[-1], 2)} if held else None}


@contextmanager
def sampled(fn: Callable[[], int], every: float = 0.2) -> Iterator[list[int]]:
    """`fn()` every `every` s while the block runs."""
    values: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while True:
            values.append(fn())
            if stop.wait(every):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield values
    finally:
        stop.set()
        thread.join()


# --- the runs ----------------------------------------------------------------------------------

def timed(one: Callable[[int, Any], str | None], latencies: list[float]) -> Callable[[int, Any], str | None]:
    """`one` that also notes how long each call took (`drive` keeps only p50 and p95)."""
    def wrapped(i: int, session: Any) -> str | None:
        started = time.perf_counter()
        try:
            return one(i, session)
        finally:
            latencies.append(time.perf_counter() - started)
    return wrapped


def run_arm(server: ServerProcess, args: argparse.Namespace, *faults: Callable[[], Any]) -> dict[str, Any]:
    """The normal load and the /health probe, with `faults` (context managers, made as it starts)."""
    tally, latencies = Tally(), []
    started = time.perf_counter()
    with ExitStack() as stack:
        probe = stack.enter_context(HealthProbe(server.url))
        fds = stack.enter_context(sampled(server.fds))
        running = [stack.enter_context(make()) for make in faults]
        normal = drive(args.requests, args.clients, timed(agent_over_http(server.url), latencies), tally.client)
    out = {"normal": {**normal, "max_ms": percentiles(latencies)["max_ms"], **tally.summary(args.requests)},
           "health": probe.summary(),
           "server_fds_max": max(fds), "wall_s": round(time.perf_counter() - started, 1)}
    for fault in running:
        out[type(fault).__name__] = fault.summary()
    out["alive"] = server.alive()
    out["recovered_after_s"] = recovery(server.url) if out["alive"] else None
    out["tool_workers_after"] = server.children() if out["alive"] else None
    return out


def recovery(url: str, within: float = 30.0) -> float | None:
    """Seconds until /health answers 200 once the fault is gone (None: not within `within` s)."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        try:
            if httpx.get(f"{url}/health", timeout=within).status_code == 200:
                return round(time.perf_counter() - started, 2)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return None


def runaway_workload(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    with ServerProcess(ServerSpec(cpu_bound=True)) as server:
        out["baseline"] = run_arm(server, args)
        out["cpu_bound"] = run_arm(server, args, partial(RunawayClient, server.url, args.exponent, args.runaway_window))
    with ServerProcess(ServerSpec(cpu_bound=False)) as server:
        out["thread"] = run_arm(server, args, partial(RunawayClient, server.url, args.exponent, args.runaway_window))
    return out


def held_workload(args: argparse.Namespace) -> dict[str, Any]:
    limits = {"read_timeout": args.read_timeout, "keep_alive_timeout": args.keep_alive_timeout}
    below, above = 2 * args.held, 256 if args.held > 256 else args.held // 2
    out: dict[str, Any] = {"limits": {**limits, "cap_below": below, "cap_above": above}}

    def held(server: ServerProcess, **kw: Any) -> Callable[[], HeldConnections]:
        return partial(HeldConnections, server.host, server.port, args.held, **kw)

    with ServerProcess(ServerSpec(max_connections=below, **limits)) as server:
        out["baseline"] = run_arm(server, args)
        out["below_cap"] = run_arm(server, args, held(server, hold_at_least=args.read_timeout + 1))
    with ServerProcess(ServerSpec(max_connections=above, **limits)) as server:
        out["above_cap"] = run_arm(server, args, held(server, hold_at_least=args.read_timeout + 1))
        out["half_heads"] = run_arm(server, args, held(server, whole_head=False,
                                                       hold_at_least=args.read_timeout + args.keep_alive_timeout + 2))
    return out


# --- the report --------------------------------------------------------------------------------

ARMS = [("runaway", "baseline", "no runaway client"), ("runaway", "cpu_bound", "runaway tool, worker process"),
        ("runaway", "thread", "runaway tool, thread (pre-fix)"), ("held", "baseline", "no held connections"),
        ("held", "below_cap", "held slow bodies, below cap"), ("held", "above_cap", "held slow bodies, above cap"),
        ("held", "half_heads", "held half heads, above cap")]


def ratio(a: float | None, b: float | None) -> str:
    return f"x{a / b:.1f}" if a is not None and b else "-"


def table(report: dict[str, Any]) -> list[str]:
    head = ("| run | served | 5xx (cap) | lost | req/s | p50 ms | p95 ms | max ms | /health p50 | p95 | max "
            "| /health 5xx (cap) | fds max | alive |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for workload, arm, label in ARMS:
        r, base = report[workload][arm], report[workload]["baseline"]
        n, h, bn, bh = r["normal"], r["health"], base["normal"], base["health"]
        lines.append(f"| {label} | {n['served']}/{n['served'] + n['errors']} | {n['5xx']} ({n['5xx_at_cap']}) "
                     f"| {n['lost'] + h['lost']} | {n['throughput_rps']:.0f} ({ratio(n['throughput_rps'], bn['throughput_rps'])}) "
                     f"| {n['p50_ms']:.0f} | {n['p95_ms']:.0f} ({ratio(n['p95_ms'], bn['p95_ms'])}) | {n['max_ms']:.0f} "
                     f"| {h['p50_ms']:.0f} | {h['p95_ms']:.0f} ({ratio(h['p95_ms'], bh['p95_ms'])}) | {h['max_ms']:.0f} "
                     f"| {h['5xx']} ({h['5xx_at_cap']}) | {r['server_fds_max']} "
                     f"| {'yes' if r['alive'] and r['recovered_after_s'] is not None else 'NO'} |")
    return lines


def totals(report: dict[str, Any], runs: list[tuple[str, str]]) -> dict[str, int]:
    """Over `runs`: 5xx other than uvicorn's 503 at the connection cap, requests and probes lost,
    servers not alive (or not answering /health) at the end."""
    runs = [report[workload][arm] for workload, arm in runs]
    clients = [c for r in runs for c in (r["normal"], r["health"], r.get("RunawayClient")) if c]
    return {"5xx_not_at_cap": sum(c["5xx"] - c["5xx_at_cap"] for c in clients),
            "5xx_at_cap": sum(c["5xx_at_cap"] for c in clients), "lost": sum(c["lost"] for c in clients),
            "server_crashes": sum(not (r["alive"] and r["recovered_after_s"] is not None) for r in runs)}


def details(report: dict[str, Any]) -> list[str]:
    lines = [f"- every run of the fixed server: {report['totals']['fixed']}; the pre-fix (thread) run: "
             f"{report['totals']['pre_fix']}"]
    for arm in ("cpu_bound", "thread"):
        c = report["runaway"][arm]["RunawayClient"]
        lines.append(f"- runaway episodes ({arm}): {c['episodes']} sent, latency p50 {c['p50_ms']} ms, max "
                     f"{c['max_ms']} ms, lost {c['lost']}, statuses {c['statuses']}; tool observations "
                     f"{c['observations']}; tool workers after: {report['runaway'][arm]['tool_workers_after']}")
    for workload, arm, label in ARMS:
        r = report[workload][arm]
        if r["normal"]["lost"] or r["health"]["lost"]:
            lines.append(f"- lost ({label}): {r['normal']['lost']} episodes (first: {r['normal']['first_error']}), "
                         f"{r['health']['lost']} /health probes as {r['health']['lost_as']}")
    for arm in ("below_cap", "above_cap", "half_heads"):
        r = report["held"][arm]
        h = r["HeldConnections"]
        lines.append(f"- held ({arm}): {h['held']} held for {h['held_s']} s; ended by the server: "
                     f"{h['ended_by_server'] or 'none'}, after {h['ended_after_s']} s; failed opens "
                     f"{h['open_failures']}; once let go, /health answered 200 after {r['recovered_after_s']} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1600, help="normal episodes per run")
    parser.add_argument("--held", type=int, default=500, help="held connections")
    parser.add_argument("--exponent", type=int, default=16_000_000, help="the runaway power of 7 (~10 s)")
    parser.add_argument("--runaway-window", type=float, default=20.0, help="no new runaway episode after this")
    parser.add_argument("--read-timeout", type=float, default=3.0)
    parser.add_argument("--keep-alive-timeout", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smaller, shorter run (and no files unless --out)")
    parser.add_argument("--out", help="folder for faults.md and faults.json (default results/faults)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.held, args.exponent = min(args.requests, 400), min(args.held, 200), 8_000_000
        args.runaway_window, args.read_timeout, args.keep_alive_timeout = 6.0, 1.0, 1
    out = args.out or (None if args.quick else "results/faults")

    report: dict[str, Any] = {"command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
                              "settings": {k: v for k, v in vars(args).items() if k != "out"},
                              "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()}
    started = time.perf_counter()
    report["runaway"] = runaway_workload(args)
    report["held"] = held_workload(args)
    report["loadavg_after"], report["wall_s"] = os.getloadavg(), round(time.perf_counter() - started, 1)
    fixed = [(workload, arm) for workload, arm, _ in ARMS if arm != "thread"]
    report["totals"] = {"fixed": totals(report, fixed), "pre_fix": totals(report, [("runaway", "thread")])}

    lines = [f"{args.requests} normal episodes from {args.clients} clients per run; /health probed every 50 ms; "
             f"{report['cpus']} CPUs, load average {report['loadavg_before'][0]:.2f} -> "
             f"{report['loadavg_after'][0]:.2f}; {report['wall_s']} s in all", "", *table(report), "", *details(report)]
    print("\n".join(lines))
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "faults.json").write_text(json.dumps(report, indent=2) + "\n")
        (Path(out) / "faults.md").write_text(markdown(report, lines))
        print(f"wrote {out}/faults.md and {out}/faults.json")


def markdown(report: dict[str, Any], lines: list[str]) -> str:
    held = report["held"]["limits"]
    doc = __doc__.split("\n\n", 2)
    return "\n".join([
        "# Faults: a runaway tool and held connections, each beside a baseline", "",
        "```", report["command"], "```", "",
        doc[2].split("Every response")[0].strip(), "",
        f"Limits used: tool timeout 1 s; runaway power 7**{report['settings']['exponent']}; held connections "
        f"{report['settings']['held']}, caps {held['cap_below']} (below) and {held['cap_above']} (above), "
        f"read_timeout {held['read_timeout']:g} s, keep_alive_timeout {held['keep_alive_timeout']} s.", "",
        "Columns: `served` normal episodes answered right / sent; `5xx (cap)` of them, in brackets uvicorn's "
        "503 at the connection cap; `lost` requests and probes with no response; the normal episodes' "
        "throughput and latencies, then the /health probes' latencies (from when each fell due); in "
        "brackets the ratio to the workload's baseline; `fds max` the server process's open file "
        "descriptors; `alive` the server process is alive and /health answers 200 after the fault is gone. "
        "The normal clients are closed loop (each waits for its answer before it sends the next), so a "
        "freeze shows in their max and req/s, while their p95 counts one slow request per client; the "
        "/health probes are open loop. Latencies under a few tens of ms are noisy on shared cores.", "",
        *lines, ""])


if __name__ == "__main__":
    main()
