"""Serving benchmark: requests served, errors and p50/p95 latency under concurrent load on
loopback, each workload next to a baseline, with the ratio.

    .venv/bin/python benchmarks/bench_serve.py [--requests 200] [--clients 8] [--model-ms 0]
                                               [--fuzz 500] [--json out.json]

Workloads (scripted model, so the figures measure the server, not a language model):

1. agent   `POST /v1/chat/completions` model `alpha-umi`: one whole episode per request (planner,
           caller, the built-in `calculate` tool, planner, summarizer: 4 generations).
   baseline the same episodes run in process by `Agent.run` from the same number of threads,
           generation serialised by a lock (the server's one-worker rule), no HTTP.
2. roles   `POST /v1/completions` on the role models (one generation per request).
   baseline a bare FastAPI endpoint on the same uvicorn setup that returns a completion-shaped
           body without any model: the floor of HTTP + JSON on this machine.
3. fuzz    (optional) mutated request bodies: status counts; any 5xx is a bug.

Each server runs in a process of its own; the clients are threads of this process.

`--model-ms` adds that many milliseconds to every generation call (a stand-in for a real model),
which shows queueing and the batching of waiting role completions. The machine's cores may be
shared with other work: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from multiagentllm.agent.loop import Agent
from multiagentllm.serve import ServeConfig, ServerThread, create_app
from multiagentllm.tools import default_registry

_SUM = re.compile(r"what is (\d+) plus (\d+)")


class RuleModel:
    """Plays every role from the prompt alone (thread-safe, deterministic); `delay` seconds per call."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text.split())

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int, stop: list[str]) -> list[str]:
        if self.delay:
            time.sleep(self.delay)
        return [self._one(p) for p in prompts]

    @staticmethod
    def _one(prompt: str) -> str:
        if "<s> " not in prompt:
            return " " + prompt[-12:][::-1]
        observations = re.findall(r"^Observation: (.*)$", prompt, re.M)
        if prompt.endswith("Answer:\n"):
            try:
                return f"The answer is {json.loads(observations[-1])['result']}."
            except (IndexError, ValueError, KeyError, TypeError):
                return "I could not compute it."
        if prompt.endswith("Next: Caller\n"):
            found = _SUM.search(prompt)
            expression = f"{found[1]} + {found[2]}" if found else "0"
            return f'Action: calculate\nAction Input: {{"expression": "{expression}"}}'
        if observations:
            return "Rationale: The calculator answered.\nNext: Summarizer"
        return "Rationale: Add the numbers with the calculator.\nNext: Caller"


class LockedModel:
    """The in-process baseline's model: one generation at a time, as in the server."""

    def __init__(self, inner: RuleModel):
        self.inner, self.lock = inner, threading.Lock()
        self.count_tokens = inner.count_tokens

    def complete(self, prompts, **kw):
        with self.lock:
            return self.inner.complete(prompts, **kw)


def drive(n: int, clients: int, one: Callable[[int, Any], str | None], make_session=None) -> dict[str, Any]:
    """Run `one(i, session)` for i in range(n) from `clients` threads; it returns None when the
    answer is right, else what went wrong."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        session = make_session() if make_session else None
        try:
            for i in range(k, n, clients):
                started = time.perf_counter()
                try:
                    problem = one(i, session)
                except Exception as e:  # noqa: BLE001 - counted as an error
                    problem = f"{type(e).__name__}: {e}"
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if problem:
                        errors.append(problem)
        finally:
            if session is not None:
                session.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    return {"served": len(ms) - len(errors), "errors": len(errors), "first_error": errors[0] if errors else None,
            "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(statistics.quantiles(ms, n=20)[-1] if len(ms) > 1 else ms[0], 2),
            "throughput_rps": round(len(ms) / wall, 1), "wall_s": round(wall, 2)}


def agent_over_http(url: str):
    def one(i: int, http: httpx.Client) -> str | None:
        r = http.post(f"{url}/v1/chat/completions", json={
            "model": "alpha-umi", "toolset": "math",
            "messages": [{"role": "user", "content": f"what is {i} plus {1000 + i}"}]})
        got = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.text[:200]
        return None if got == f"The answer is {1000 + 2 * i}." else f"#{i}: {r.status_code} {got}"
    return one


def agent_in_process(model: LockedModel):
    registry = default_registry()

    def one(i: int, _: Any) -> str | None:
        result = Agent(model, registry.fresh()).run(f"what is {i} plus {1000 + i}", toolset="math")
        return None if result.answer == f"The answer is {1000 + 2 * i}." else f"#{i}: {result.status}"
    return one


def completions_over_http(url: str, model: str = "caller"):
    def one(i: int, http: httpx.Client) -> str | None:
        prompt = f"request number {i}"
        r = http.post(f"{url}/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 16})
        got = r.json()["choices"][0]["text"] if r.status_code == 200 else r.text[:200]
        return None if got == " " + prompt[-12:][::-1] else f"#{i}: {r.status_code} {got}"
    return one


def echo_app() -> FastAPI:
    """The baseline endpoint: parses the body and answers a completion-shaped JSON, no model."""
    app = FastAPI()

    @app.post("/v1/completions")
    async def complete(body: dict[str, Any]) -> dict[str, Any]:
        text = " " + body["prompt"][-12:][::-1]
        return {"id": "cmpl-echo", "object": "text_completion", "created": int(time.time()),
                "model": body["model"], "choices": [{"text": text, "index": 0, "logprobs": None,
                                                     "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
    return app


def fuzz(url: str, n: int, seed: int) -> dict[str, Any]:
    """Mutated bodies (a field dropped, retyped or filled with junk); statuses counted."""
    rng = random.Random(seed)
    junk = [None, True, -1, 0, 10**9, 3.5, "", "x" * 50, [], [1, "a"], {}, {"a": {"b": []}}]
    seeds = [
        ("/v1/chat/completions", {"model": "alpha-umi", "toolset": "math",
                                  "messages": [{"role": "user", "content": "what is 1 plus 2"}]}),
        ("/v1/chat/completions", {"model": "planner", "messages": [{"role": "user", "content": "hi"}],
                                  "tools": [{"type": "function", "function": {"name": "f"}}]}),
        ("/v1/completions", {"model": "caller", "prompt": "hello", "max_tokens": 4, "stop": ["\n"]}),
    ]
    statuses: Counter = Counter()
    with httpx.Client(timeout=30) as http:
        for _ in range(n):
            path, body = rng.choice(seeds)
            body = json.loads(json.dumps(body))
            for _ in range(rng.randint(1, 3)):
                key = rng.choice([*body, "messages", "tools", "stream", "n", "max_steps", "stop", "extra"])
                action = rng.random()
                if action < 0.3:
                    body.pop(key, None)
                elif action < 0.8:
                    body[key] = rng.choice(junk)
                elif isinstance(body.get("messages"), list) and body["messages"]:
                    body["messages"][0][rng.choice(["role", "content", "tool_calls"])] = rng.choice(junk)
            statuses[http.post(f"{url}{path}", json=body).status_code] += 1
    return {"bodies": n, "statuses": dict(sorted(statuses.items())),
            "server_errors_5xx": sum(v for k, v in statuses.items() if k >= 500)}


def _serve_child(kind: str, model_ms: float, queue_size: int, conn: Any) -> None:
    if kind == "umi":
        app = create_app(RuleModel(model_ms / 1000), default_registry(), config=ServeConfig(queue_size=queue_size))
    else:
        app = echo_app()
    with ServerThread(app) as url:
        conn.send(url)
        conn.recv()  # until the parent is done


@contextmanager
def server_process(kind: str, model_ms: float = 0.0, queue_size: int = 64) -> Iterator[str]:
    """A server in a process of its own, so that the clients' threads do not share its GIL."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_child, args=(kind, model_ms, queue_size, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(120):
            raise RuntimeError(f"the {kind} server did not start")
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--model-ms", type=float, default=0.0, help="added latency per generation call")
    parser.add_argument("--fuzz", type=int, default=300, help="mutated bodies to send (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    model = RuleModel(args.model_ms / 1000)
    n, c = args.requests, args.clients
    report: dict[str, Any] = {"requests": n, "clients": c, "model_ms": args.model_ms,
                              "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}
    with server_process("umi", args.model_ms, max(64, c)) as url:
        report["agent_http"] = drive(n, c, agent_over_http(url), lambda: httpx.Client(timeout=60))
        report["agent_in_process"] = drive(n, c, agent_in_process(LockedModel(model)))
        report["roles_http"] = drive(n, c, completions_over_http(url), lambda: httpx.Client(timeout=60))
        health = httpx.get(f"{url}/health").json()
        report["generations"], report["batches"] = health["generations"], health["batches"]
        if args.fuzz:
            report["fuzz"] = fuzz(url, args.fuzz, args.seed)
            report["healthy_after_fuzz"] = httpx.get(f"{url}/health").status_code == 200
    with server_process("echo") as url:
        report["echo_http"] = drive(n, c, completions_over_http(url), lambda: httpx.Client(timeout=60))
    report["loadavg_after"] = os.getloadavg()[0]
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


def print_report(r: dict[str, Any]) -> None:
    print(f"{r['requests']} requests from {r['clients']} concurrent clients per workload, loopback, "
          f"scripted model (+{r['model_ms']:g} ms per generation); {r['cpus']} CPUs, load average "
          f"{r['loadavg_before']:.2f} -> {r['loadavg_after']:.2f}")
    print(f"{'workload':<34}{'served':>7}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}")
    rows = [("alpha-umi episode, HTTP server", "agent_http"), ("  baseline: Agent.run in process", "agent_in_process"),
            ("role completion, HTTP server", "roles_http"), ("  baseline: bare FastAPI echo", "echo_http")]
    for label, key in rows:
        x = r[key]
        print(f"{label:<34}{x['served']:>7}{x['errors']:>7}{x['p50_ms']:>9.1f}{x['p95_ms']:>9.1f}{x['throughput_rps']:>8.1f}")
        if x["first_error"]:
            print(f"    first error: {x['first_error']}")
    for name, ours, base in (("episode", "agent_http", "agent_in_process"), ("completion", "roles_http", "echo_http")):
        a, b = r[ours], r[base]
        print(f"{name}: server/baseline p50 x{a['p50_ms'] / b['p50_ms']:.2f}, p95 x{a['p95_ms'] / b['p95_ms']:.2f}, "
              f"throughput x{a['throughput_rps'] / b['throughput_rps']:.2f}")
    print(f"model calls: {r['generations']} generations in {r['batches']} batches")
    if "fuzz" in r:
        f = r["fuzz"]
        print(f"fuzz: {f['bodies']} mutated bodies, statuses {f['statuses']}, 5xx: {f['server_errors_5xx']}, "
              f"healthy afterwards: {r['healthy_after_fuzz']}")


if __name__ == "__main__":
    main()
