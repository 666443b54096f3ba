"""Decode engines side by side, in one run, on the trio's own held-out role calls.

Candidates (each at batch 1, greedy, the role's stop strings and token budget, prefix reuse off):

* `generate`           transformers `model.generate` (float32), made to write the reference's tokens
* `torch`              the lean torch runner, float32: the default engine before llama.cpp
* `torch+drafts`       the same with prompt-lookup drafts (8 per forward)
* `torch bf16+drafts`  the lean runner on bfloat16 weights (this CPU has AVX512-BF16)
* `llama.cpp DTYPE`    `umi export gguf` (backbone in DTYPE, role adapters applied at run time)
  through llama-cpp-python, with and without drafts, for float32, float16, bfloat16 and q8_0

Decode rate of a call = (tokens - 1) / (time of the call - time of a 1-token call), so prefill is
not counted. "same" counts the calls whose text equals the float32 torch runner's. Machine
figures printed beside them: memory bandwidth (a large tensor copy) and the float32 and bfloat16
matrix-product peaks, so the rates can be read against the machine's limit (a 135M model reads
its weights once per token: bytes / bandwidth is the ceiling at batch 1).

Also measured: the reference flight episode (every model call real, reference outputs continue
it) on the torch runner and on the adopted llama.cpp engine, and the resident memory of the trio
on each, in fresh processes.

Run:  .venv/bin/python benchmarks/bench_decode.py [--checkpoint DIR] [--data out/data] [--prompts 6]
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


def _fresh(llm, role: str) -> None:
    """Forget the role's cached prefix, so every call prefills cold (as `generate` does)."""
    if hasattr(llm, "model") and hasattr(llm.model, "truncate"):
        llm.model.truncate(role, 0)
    else:
        getattr(llm.runner(llm.role(role).model), "saved", {}).clear()


def role_rates(llm, prompts: dict[str, list[str]], drafts: int) -> dict[str, dict]:
    from multiagentllm.roles import caller, planner, summarizer

    modules = {"planner": planner, "caller": caller, "summarizer": summarizer}
    llm.draft_tokens = drafts
    out = {}
    for role in ROLES:
        m = modules[role]
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
    import torch

    from multiagentllm.models.tokens import encode

    out = {}
    for role in ROLES:
        entry = trio.role(role)
        seconds, tokens = 0.0, 0
        for prompt, text in zip(prompts[role], reference[role]["texts"]):
            ids = torch.tensor([encode(trio.tokenizer, prompt)])
            count = max(trio.count_tokens(text), 2)
            entry.model.set_adapter(entry.adapter)

            def gen(k):
                with torch.no_grad():
                    entry.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=k,
                                         do_sample=False)
            first = _timed(lambda: gen(1))
            seconds += _timed(lambda: gen(count)) - first
            tokens += count - 1
        out[role] = {"rate": tokens / max(seconds, 1e-9), "tokens": tokens, "texts": None}
    return out


def memory_child(engine: str, ckpt: str) -> None:
    """Fresh process: the resident-set growth of loading the trio on one engine and running each role once."""
    import gc

    import peft  # noqa: F401 - libraries first, so only weights are counted
    import torch
    import transformers

    from multiagentllm.models import load_llm
    from multiagentllm.models.load import resolve_base

    torch.set_num_threads(1)
    gc.collect()
    before = rss_mb()
    if engine == "one":
        keep = transformers.AutoModelForCausalLM.from_pretrained(resolve_base("embedded")).eval()
        with torch.no_grad():
            keep(torch.tensor([[1, 2, 3]]))
    else:
        keep = load_llm(ckpt, engine=engine)
        for role in ROLES:
            keep.complete(["Hello"], role=role, max_new_tokens=1, stop=[])
    gc.collect()
    print(json.dumps({"engine": engine, "mb": rss_mb() - before, "kept": type(keep).__name__}))


def memory(ckpt: Path) -> dict[str, float]:
    out = {}
    for engine in ("one", "torch", "llamacpp"):
        proc = subprocess.run([sys.executable, __file__, "--_memory", engine, str(ckpt)],
                              capture_output=True, text=True, check=True)
        out[engine] = json.loads(proc.stdout.strip().splitlines()[-1])["mb"]
    return out


def plot(rows: list[dict], path: Path, peaks: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(ROLES))]
        ax.bar(xs, [row["roles"][r]["rate"] for r in ROLES], width, label=row["name"])
    ax.axhline(100, color="k", linestyle="--", linewidth=1, label="target 100 tok/s")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ROLES))], ROLES)
    ax.set_ylabel("decode tokens/s (batch 1)")
    ax.set_title(f"Held-out role calls, shipped trio, 2-core CPU (bandwidth {peaks['bandwidth_gbs']:.0f} GB/s)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="checkpoints/cpu-full")
    ap.add_argument("--data", default="out/data", help="`umi data build` output (its test split's role prompts)")
    ap.add_argument("--prompts", type=int, default=6, help="held-out prompts per role")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="results/decode")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--_memory", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory:
        memory_child(*args._memory)
        return

    import torch

    from multiagentllm.export_gguf import export_gguf
    from multiagentllm.models import load_llm
    from multiagentllm.models.backends.checkpoint import GGUF_DTYPE
    from multiagentllm.models.backends.llamacpp import load_gguf

    torch.set_num_threads(args.threads)
    ckpt, data = Path(args.checkpoint), Path(args.data)
    print(f"checkpoint {ckpt}; threads {args.threads}; load average {os.getloadavg()[0]:.2f}", flush=True)
    peaks = machine_peaks()
    print(f"machine: bandwidth {peaks['bandwidth_gbs']:.1f} GB/s; matmul float32 {peaks['float32_gflops']:.0f} "
          f"GFLOP/s, bfloat16 {peaks['bfloat16_gflops']:.0f} GFLOP/s", flush=True)
    prompts = {r: role_prompts(data, r, args.prompts) for r in ROLES}

    rows: list[dict] = []

    def add(name: str, roles: dict[str, dict]) -> None:
        ref = rows[1]["roles"] if len(rows) > 1 else roles
        for r in ROLES:
            texts = roles[r]["texts"]
            roles[r]["same"] = None if texts is None else sum(a == b for a, b in zip(texts, ref[r]["texts"]))
        rows.append({"name": name, "roles": roles})
        print(f"{name:22s} " + "  ".join(
            f"{r} {roles[r]['rate']:6.1f} tok/s" + ("" if roles[r]["same"] is None else
                                                    f" (same {roles[r]['same']}/{len(prompts[r])})")
            for r in ROLES), flush=True)

    trio = load_llm(ckpt, engine="torch")
    reference = role_rates(trio, prompts, 0)
    add("generate", generate_rates(trio, prompts, reference))
    add("torch", reference)
    add("torch+drafts", role_rates(trio, prompts, DRAFTS))
    del trio
    bf16 = load_llm(ckpt, engine="torch", dtype="bfloat16")
    add("torch bf16+drafts", role_rates(bf16, prompts, DRAFTS))
    del bf16
    with tempfile.TemporaryDirectory(prefix="umi-gguf-") as tmp:
        for dtype in GGUF_DTYPES:
            folder = Path(tmp) / dtype
            export_gguf(ckpt, folder, dtype=dtype)
            llm = load_gguf(folder, threads=args.threads)
            add(f"llama.cpp {dtype}", role_rates(llm, prompts, 0))
            add(f"llama.cpp {dtype}+drafts", role_rates(llm, prompts, DRAFTS))
            llm.model.close()

    print("\n== the reference flight episode (every model call real)", flush=True)
    episode = {}
    for engine in ("torch", "llamacpp"):
        llm = load_llm(ckpt, engine=engine)
        seconds, calls, status = replay_episode(llm)
        episode[engine] = {"seconds": seconds, "calls": calls, "status": status}
        print(f"{engine:9s} {seconds:6.1f} s ({calls} calls, {status})", flush=True)
    print(f"llama.cpp ({GGUF_DTYPE}) is {episode['torch']['seconds'] / episode['llamacpp']['seconds']:.2f}x faster")

    mem = {} if args.skip_memory else memory(ckpt)
    if mem:
        print(f"\n== resident memory: one plain model {mem['one']:.0f} MB; trio on torch {mem['torch']:.0f} MB "
              f"({mem['torch'] / mem['one']:.2f}x); trio on llama.cpp {mem['llamacpp']:.0f} MB "
              f"({mem['llamacpp'] / mem['one']:.2f}x; target <= 1.3x)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for r in ROLES:
            row["roles"][r].pop("texts", None)
    result = {"checkpoint": str(ckpt), "threads": args.threads, "prompts_per_role": args.prompts,
              "machine": peaks, "rows": rows, "episode": episode, "memory_mb": mem,
              "load_average_after": os.getloadavg()[0]}
    (out / "decode.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    base = {r: rows[1]["roles"][r]["rate"] for r in ROLES}
    lines = [f"# Decode engines on the shipped trio's held-out role calls ({args.prompts} per role)", "",
             f"Machine: {args.threads} threads, memory bandwidth {peaks['bandwidth_gbs']:.1f} GB/s, matmul "
             f"peaks float32 {peaks['float32_gflops']:.0f} / bfloat16 {peaks['bfloat16_gflops']:.0f} GFLOP/s. "
             "Decode tokens/s at batch 1 (prefill not counted); `same`: calls whose text equals the "
             "float32 torch runner's; ratio against it.", "",
             "| engine | " + " | ".join(ROLES) + " |", "|---|" + "---:|" * len(ROLES)]
    for row in rows:
        cells = []
        for r in ROLES:
            c = row["roles"][r]
            same = "" if c["same"] is None else f", same {c['same']}/{args.prompts}"
            cells.append(f"{c['rate']:.1f} ({c['rate'] / base[r]:.2f}x{same})")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += ["", f"Flight episode (every call real): torch {episode['torch']['seconds']:.1f} s, llama.cpp "
              f"{GGUF_DTYPE} {episode['llamacpp']['seconds']:.1f} s "
              f"({episode['torch']['seconds'] / episode['llamacpp']['seconds']:.2f}x)."]
    if mem:
        lines.append(f"Resident memory: one plain model {mem['one']:.0f} MB; trio on torch {mem['torch']:.0f} MB "
                     f"({mem['torch'] / mem['one']:.2f}x); on llama.cpp {mem['llamacpp']:.0f} MB "
                     f"({mem['llamacpp'] / mem['one']:.2f}x).")
    (out / "decode.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(rows, out / "decode.png", peaks)
    print(f"\nwrote {out / 'decode.md'}, decode.json, decode.png")


if __name__ == "__main__":
    main()
