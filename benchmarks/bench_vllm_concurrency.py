"""Concurrent agent episodes on the shipped trio: vLLM-CPU against `umi serve`, in one run.

Systems, each alone on the machine in turn, all fed the same tasks by the same client threads:

* `umi serve`          the project's server with the trio in process (the default engine:
                       llama.cpp float16 on a CPU); one model worker, waiting role completions with
                       the same settings merged into one batch (`serve.worker`)
* `vLLM`               the agent loop in the client (`umi run --backend openai`), one HTTP client per
                       client thread, against vLLM-CPU serving the float32 export (`umi export vllm`:
                       the backbone with the three role adapters as multi-LoRA, continuous batching,
                       role grammars by its guidance backend)
* `umi serve -> vLLM`  `umi serve --backend openai --base-url <that vLLM>`: the project's server in
                       front, generating on the same vLLM (skip with --no-front)

For each concurrency N (--concurrency, default 1 4 16) the same T tasks (--tasks, default 16) are
sent from N client threads; figures: episodes per minute (T / wall time), p50 and p95 episode
latency, the episodes' statuses, and how many episodes are the same (status and steps) as the
system's own N=1 run (does batching change what the model writes?) and as `umi serve`'s at the same N.
One warm-up episode per system is not counted; server start-up is not counted.

Tasks: instructions of the synthesis families held out of training (seeded), played in the built-in
world every server episode gets (seed 0, its default clock), not each task's own world: this
measures serving, not pass rate (`umi eval passrate` does that).

Run:   .venv/bin/python benchmarks/bench_vllm_concurrency.py [--tasks 16] [--concurrency 1 4 16]
           [--checkpoint checkpoints/cpu-full] [--vllm-python .venv-vllm/bin/python] [--no-front]
Smoke: .venv/bin/python benchmarks/bench_vllm_concurrency.py --quick   (N=1, one task; writes to out/)
Writes results/vllm-concurrency/concurrency.{md,json,png} (--out DIR elsewhere).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from bench_serve import drive  # noqa: E402

from multiagentllm.serve.vllm_server import Server, free_port, http_server, vllm_python, vllm_server  # noqa: E402

SYSTEMS = ("umi serve", "vLLM", "umi serve -> vLLM")
BASELINE = SYSTEMS[0]
TIMEOUT = 1800.0  # seconds an episode may take under load (the server's own limit is 600 s of work)


def held_out_instructions(n: int, seed: int = 0) -> list[str]:
    """The instructions of the first `n` tasks the synthesis engine writes for the held-out families."""
    from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction

    result, index, seen = ChunkResult(), 0, []
    test_families = [f for f in families() if f.split == "test"]
    while len(seen) < n:
        play_instruction(seed, index, test_families, result)
        index += 1
        seen = [r["instruction"] for r in result.trajectories if r["meta"].get("variant") == 0]
    return seen[:n]


# -- how an episode is sent ------------------------------------------------------------------------

Episode = Callable[[str, Any], dict[str, Any]]  # (instruction, per-thread session) -> its `outcome`


def outcome(status: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """What an episode did, compact: two are the same episode when these are equal."""
    text = json.dumps(steps, sort_keys=True, ensure_ascii=False)
    return {"status": status, "steps": len(steps), "digest": hashlib.sha1(text.encode()).hexdigest()[:12]}


def over_umi_serve(url: str) -> tuple[Episode, Callable[[], Any]]:
    """One `POST /v1/chat/completions` (model alpha-umi) per episode."""
    def one(instruction: str, http: httpx.Client) -> dict[str, Any]:
        r = http.post(f"{url}/v1/chat/completions", json={
            "model": "alpha-umi", "messages": [{"role": "user", "content": instruction}]})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        umi = r.json()["umi"]
        return outcome(umi["status"], umi["steps"])
    return one, lambda: httpx.Client(timeout=TIMEOUT)


def over_openai_backend(url: str) -> tuple[Episode, Callable[[], Any]]:
    """The agent loop here, as `umi run --backend openai --base-url URL` runs it."""
    from multiagentllm.agent.session import build_llm, run_query

    def one(instruction: str, llm: Any) -> dict[str, Any]:
        result = run_query(instruction, llm=llm)
        return outcome(result.status, [s.to_dict() for s in result.trajectory.steps])
    return one, lambda: build_llm(backend="openai", base_url=url, model="{role}")


def measure(episode: Episode, session: Callable[[], Any], tasks: list[str], clients: int) -> dict[str, Any]:
    """`tasks` from `clients` threads (`bench_serve.drive`); what each episode did, by task index."""
    done: dict[int, dict[str, Any]] = {}

    def one(i: int, s: Any) -> str | None:
        done[i] = episode(tasks[i], s)
        return None

    figures = drive(len(tasks), clients, one, session)
    figures["episodes_per_min"] = round(60 * len(tasks) / figures["wall_s"], 2)
    figures["statuses"] = dict(sorted(Counter(d["status"] for d in done.values()).items()))
    figures["episodes"] = [done.get(i) for i in range(len(tasks))]
    return figures


# -- the servers -----------------------------------------------------------------------------------

@contextmanager
def umi_serve(tmp: Path, *extra: str, name: str = "umi serve") -> Iterator[Server]:
    """`umi serve` (this checkout's, in a process of its own) on a free loopback port."""
    port = free_port()
    cmd = [sys.executable, "-m", "multiagentllm.cli", "serve", "--port", str(port), "--log-level", "warning",
           "--request-timeout", str(TIMEOUT), *extra]
    log = tmp / f"{name.replace(' ', '-').replace('>', '')}.log"
    with http_server(cmd, url=f"http://127.0.0.1:{port}", ready="/health", log=log, name=name) as server:
        yield server


def run_system(name: str, server: Server, episode_for: Callable[[str], tuple[Episode, Callable[[], Any]]],
               tasks: list[str], levels: list[int]) -> dict[str, Any]:
    episode, session = episode_for(server.url)
    warm = session()
    try:
        episode(tasks[0], warm)  # adapters loaded, grammars compiled, caches warm: not counted
    finally:
        close = getattr(warm, "close", None)
        if close:
            close()
    out: dict[str, Any] = {"levels": {}}
    for n in levels:
        figures = measure(episode, session, tasks, n)
        out["levels"][str(n)] = figures
        print(f"  {name:<18} N={n:<3} {figures['episodes_per_min']:>7.2f} episodes/min  p50 "
              f"{figures['p50_ms'] / 1000:6.1f} s  p95 {figures['p95_ms'] / 1000:6.1f} s  {figures['statuses']}"
              + (f"  errors {figures['errors']}: {figures['first_error']}" if figures["errors"] else ""), flush=True)
    out["server_rss_mb"] = round(server.rss_mb())
    return out


def compare_episodes(report: dict[str, Any]) -> None:
    """Per system and N: episodes equal to its own N=1 run, and to `umi serve`'s at that N."""
    systems = report["systems"]
    for name, system in systems.items():
        if "levels" not in system:
            continue
        first = system["levels"][str(report["concurrency"][0])]["episodes"]
        for n, figures in system["levels"].items():
            figures["same_as_first_level"] = sum(a is not None and a == b for a, b in zip(figures["episodes"], first))
            base = systems.get(BASELINE, {}).get("levels", {}).get(n)
            if base and name != BASELINE:
                figures["same_as_umi_serve"] = sum(a is not None and a == b for a, b in zip(figures["episodes"], base["episodes"]))


# -- report ----------------------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    levels, systems = report["concurrency"], report["systems"]
    names = [s for s in SYSTEMS if s in systems]
    lines = [f"# Concurrent agent episodes: vLLM-CPU against `umi serve` ({report['tasks']} tasks per level)", "",
             f"Checkpoint `{report['checkpoint']}`; {report['cpus']} CPUs, load average {report['loadavg_before']:.2f} "
             f"before, {report['loadavg_after']:.2f} after. {report['note']}", "",
             "| system | N | episodes/min | x umi serve | p50 s | p95 s | statuses | same as N=" + str(levels[0])
             + " | same as umi serve |", "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for name in names:
        s = systems[name]
        if "error" in s:
            lines.append(f"| {name} | | | | | | error: {s['error']} | | |")
            continue
        for n in levels:
            f = s["levels"][str(n)]
            base = systems.get(BASELINE, {}).get("levels", {}).get(str(n))
            ratio = f"{f['episodes_per_min'] / base['episodes_per_min']:.2f}x" if base and name != BASELINE else ""
            stat = ", ".join(f"{k} {v}" for k, v in f["statuses"].items()) + (f", errors {f['errors']}" if f["errors"] else "")
            lines.append(f"| {name} | {n} | {f['episodes_per_min']:.2f} | {ratio} | {f['p50_ms'] / 1000:.1f} | "
                         f"{f['p95_ms'] / 1000:.1f} | {stat} | {f['same_as_first_level']}/{report['tasks']} | "
                         f"{'' if name == BASELINE else str(f.get('same_as_umi_serve', '')) + '/' + str(report['tasks'])} |")
    lines += ["", "Server memory (resident, with children, after the runs): "
              + ", ".join(f"{n} {systems[n]['server_rss_mb']} MB" for n in names if "server_rss_mb" in systems[n]) + "."]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report["concurrency"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, s in report["systems"].items():
        if "levels" not in s:
            continue
        a.plot(levels, [s["levels"][str(n)]["episodes_per_min"] for n in levels], marker="o", label=name)
        b.plot(levels, [s["levels"][str(n)]["p50_ms"] / 1000 for n in levels], marker="o", label=f"{name} p50")
        b.plot(levels, [s["levels"][str(n)]["p95_ms"] / 1000 for n in levels], marker="x", linestyle=":",
               label=f"{name} p95")
    for ax, title in ((a, "episodes per minute"), (b, "episode latency (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(n) for n in levels])
        ax.set_xlabel("concurrent episodes (N)")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle(f"shipped trio, {report['tasks']} held-out tasks per level, {report['cpus']} CPUs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--checkpoint", default="checkpoints/cpu-full")
    ap.add_argument("--vllm-python", default=str(vllm_python()), help="the python of a vllm-cpu virtualenv")
    ap.add_argument("--kv-cache-gb", type=int, default=2, help="vLLM's KV cache (VLLM_CPU_KVCACHE_SPACE)")
    ap.add_argument("--no-front", action="store_true", help="skip `umi serve --backend openai` over vLLM")
    ap.add_argument("--quick", action="store_true", help="smoke run: N=1, one task, written to out/")
    ap.add_argument("--out", type=Path, help="default: results/vllm-concurrency (out/vllm-concurrency-quick with --quick)")
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.concurrency = 1, [1]
    out_dir = args.out or Path("out/vllm-concurrency-quick" if args.quick else "results/vllm-concurrency")
    tasks = held_out_instructions(args.tasks)
    report: dict[str, Any] = {
        "checkpoint": args.checkpoint, "tasks": len(tasks), "concurrency": args.concurrency,
        "instructions": tasks, "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0], "systems": {},
        "note": ("`umi serve`: the trio in process, default engine (llama.cpp float16 on a CPU). vLLM: vllm-cpu "
                 f"0.32.0 on the float32 export, {args.kv_cache_gb} GiB KV cache, prefix caching on. Start-up and "
                 "one warm-up episode per system not counted.")}
    print(f"{len(tasks)} held-out tasks, N in {args.concurrency}; {os.cpu_count()} CPUs, load average "
          f"{report['loadavg_before']:.2f}", flush=True)

    def attempt(name: str, run: Callable[[], dict[str, Any]]) -> None:
        started = time.perf_counter()
        try:
            report["systems"][name] = run()
        except Exception as e:  # noqa: BLE001 - one system failing still reports the others
            report["systems"][name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(f"  {name}: {report['systems'][name]['error']}", flush=True)
        report["systems"][name]["seconds"] = round(time.perf_counter() - started, 1)

    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp_name:
        tmp = Path(tmp_name)

        def in_process() -> dict[str, Any]:
            with umi_serve(tmp, "--checkpoint", args.checkpoint) as server:
                return run_system(BASELINE, server, over_umi_serve, tasks, args.concurrency)
        attempt(BASELINE, in_process)

        def on_vllm() -> dict[str, Any]:
            from multiagentllm.export import export_vllm

            export = export_vllm(args.checkpoint, tmp / "vllm", dtype="float32")
            with vllm_server(export, log=tmp / "vllm.log", python=args.vllm_python, max_model_len=8192,
                             kv_cache_gb=args.kv_cache_gb) as vllm:
                result = run_system("vLLM", vllm, over_openai_backend, tasks, args.concurrency)
                if not args.no_front:
                    def front() -> dict[str, Any]:
                        with umi_serve(tmp, "--backend", "openai", "--base-url", vllm.url,
                                       name="umi serve -> vLLM") as server:
                            got = run_system(SYSTEMS[2], server, over_umi_serve, tasks, args.concurrency)
                            got["server_rss_mb"] += round(vllm.rss_mb())  # the front and the vLLM behind it
                            return got
                    attempt(SYSTEMS[2], front)
                result["server_rss_mb"] = round(vllm.rss_mb())
                return result
        attempt("vLLM", on_vllm)
    report["systems"] = {n: report["systems"][n] for n in SYSTEMS if n in report["systems"]}
    report["loadavg_after"] = os.getloadavg()[0]
    compare_episodes(report)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "concurrency.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (out_dir / "concurrency.md").write_text(md)
    try:
        plot(report, out_dir / "concurrency.png")
    except Exception as e:  # noqa: BLE001 - the figures are written already
        print(f"no plot: {type(e).__name__}: {e}")
    print(md)
    print(f"wrote {out_dir}/concurrency.{{md,json,png}}")


if __name__ == "__main__":
    main()
