"""The vllm step of recipes/tinyllama_cpu.py: the `vllm serve` commands an export's serve.md gives,
run as they are with vLLM's CPU build (`python -m vllm.entrypoints.openai.api_server --model M`
for `vllm serve M`, which the CPU wheel lacks; only the port is changed), each measured: time to
ready, memory, one greedy completion per served model, and whether vLLM turns each prompt into
the token ids training used (`multiagentllm.models.tokens`), as the `umi --backend openai` runtime
sends prompts as text.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from multiagentllm.serve.vllm_server import free_port, stop_server, tree_rss_mb

READY_TIMEOUT_S = 1800  # the 1.1B bf16 model on 2 cores loads and warms up in minutes
MAX_TOKENS = 16


def serve_commands(serve_md: str) -> dict[str, list[str]]:
    """Each `vllm serve MODEL ...` command in serve.md's bash blocks (continuation lines joined),
    as an argv of vLLM's CPU entry point, by its --served-model-name."""
    out = {}
    for block in re.findall(r"```bash\n(.*?)```", serve_md, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(command)
            if argv[:2] != ["vllm", "serve"]:
                continue
            name = argv[argv.index("--served-model-name") + 1]
            out[name] = ["-m", "vllm.entrypoints.openai.api_server", "--model", *argv[2:]]
    if not out:
        raise ValueError("serve.md holds no `vllm serve` command")
    return out


def _with_port(argv: list[str], port: int) -> list[str]:
    argv = list(argv)
    if "--port" in argv:
        argv[argv.index("--port") + 1] = str(port)
    else:
        argv += ["--port", str(port)]
    return argv


def _tree_rss(proc: Any) -> int:
    """Resident bytes of a process and its descendants (shared pages counted in each)."""
    return int(tree_rss_mb(proc.pid) * 1024 * 1024)


def shortest_prompt(data: Path, dataset: str) -> str:
    """The shortest first-turn prompt of DATA/<dataset>/dev.seq.jsonl (the rows training reads: a
    row's text up to its first supervised span is the prompt of its first turn), so it fits the
    context."""
    from multiagentllm.io import read_records

    path = data / dataset / "dev.seq.jsonl"
    prompts = list(read_records(path, lambda row: row["text"][:row["spans"][0][0]]))
    if not prompts:
        raise SystemExit(f"{path} has no rows")
    return min(prompts, key=len)


def check_server(python: Path, argv: list[str], data: Path, base: Path, log: Path) -> dict[str, Any]:
    """Start one server, wait for it, ask each of its models once, stop it; the measurements."""
    import httpx

    from multiagentllm.models.load import load_tokenizer
    from multiagentllm.models.tokens import encode

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(python), *_with_port(argv, port)]
    print(f"$ VLLM_CPU_KVCACHE_SPACE=1 {shlex.join(command)}  (log: {log})", flush=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    result: dict[str, Any] = {"command": "VLLM_CPU_KVCACHE_SPACE=1 " + shlex.join(command)}
    peak = 0
    try:
        models = None
        while models is None:
            peak = max(peak, _tree_rss(proc))
            if proc.poll() is not None:
                raise SystemExit(f"vLLM exited ({proc.returncode}) before it was ready:\n"
                                 f"{log.read_text()[-4000:]}")
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise SystemExit(f"vLLM was not ready within {READY_TIMEOUT_S} s; see {log}")
            try:
                resp = httpx.get(f"{url}/v1/models", timeout=2)
                if resp.status_code == 200:
                    models = [m["id"] for m in resp.json()["data"]]
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        result.update(ready_seconds=round(time.perf_counter() - started, 1), models=models,
                      rss_ready_bytes=_tree_rss(proc))
        print(f"ready in {result['ready_seconds']} s, serving {', '.join(models)}", flush=True)
        tokenizer = load_tokenizer(base)
        result["completions"] = {}
        for model in models:
            dataset = "planner" if model == "backbone" else model
            prompt = shortest_prompt(data, dataset)
            ids = _post(f"{url}/tokenize", {"model": model, "prompt": prompt}, log)
            served_ids, trained_ids = ids["tokens"], encode(tokenizer, prompt)
            t = time.perf_counter()
            body = _post(f"{url}/v1/completions", {"model": model, "prompt": prompt, "max_tokens": MAX_TOKENS,
                                                   "temperature": 0}, log)
            result["completions"][model] = {
                "prompt_from": f"{dataset}/dev.seq.jsonl", "prompt_tokens": body["usage"]["prompt_tokens"],
                "completion_tokens": body["usage"]["completion_tokens"],
                "seconds": round(time.perf_counter() - t, 2), "text": body["choices"][0]["text"],
                "same_ids_as_training": served_ids == trained_ids,
                "ids_differ_at": next((k for k, (a, b) in enumerate(zip(served_ids, trained_ids)) if a != b),
                                      None if len(served_ids) == len(trained_ids) else min(len(served_ids), len(trained_ids))),
            }
            peak = max(peak, _tree_rss(proc))
            c = result["completions"][model]
            print(f"{model}: {c['prompt_tokens']} prompt tokens -> {c['text']!r} in {c['seconds']} s; "
                  f"same token ids as training: {c['same_ids_as_training']}", flush=True)
    finally:
        stop_server(proc, grace_s=60)
    result["tree_peak_rss_bytes"] = peak
    return result


def _post(url: str, body: dict[str, Any], log: Path) -> dict[str, Any]:
    import httpx

    resp = httpx.post(url, json=body, timeout=900)
    if resp.status_code != 200:
        raise SystemExit(f"{url} answered {resp.status_code}: {resp.text[:500]}\nserver log "
                         f"({log}):\n{log.read_text()[-4000:]}")
    return resp.json()
