"""Runtime benchmark, side by side in one run, on the embedded model (SmolLM2-135M):

1. Resident memory of the trio as ONE base + three LoRA adapters (what `load_llm` builds) against
   three separate model copies, and against one plain model (target: trio <= 1.3x one model).
   Each variant is loaded in a fresh process; the figure is the growth of its resident set.
2. Decode tokens/s of the runtime (`HFBackend`, lean Llama runner) against plain `model.generate`
   with default settings (greedy), on the base model and with a LoRA adapter active
   (target >= 2x). Decode rate = (N-1) / (time for N tokens - time for 1 token), so prefill is
   not counted; both must produce the same tokens. Tokens per CPU-second of the process are
   printed too: on shared cores they are less disturbed by other work than wall-clock rates.
3. End-to-end latency of one agent episode along the reference flight trajectory (search NY -> LA
   next Tuesday, book the cheaper flight, answer): every model call is made for real, with the
   role's prompt, token budget and stop strings; the agent then continues with the reference
   output, so both backends do the same calls. Baseline: `model.generate` per call with the
   same stop strings (`stop_strings=`), adapters switched with `set_adapter`.

Run:  .venv/bin/python benchmarks/bench_runtime.py [--checkpoint DIR] [--tokens 64] [--repeats 3]

Without --checkpoint it uses the shipped checkpoint, else a synthetic one: random LoRA adapters
(r=16, all linear layers) on the embedded base (memory and speed do not depend on the values).
The machine's CPU cores may be shared with other work: the figures say how many threads ran
and what the load average was.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLIGHT = "Book me a flight from New York to Los Angeles next Tuesday"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_child(mode: str, ckpt: str) -> None:
    """Runs in a fresh process: load one variant, print the growth of the resident set."""
    import gc

    import peft  # noqa: F401 - imported before the baseline so only weights are counted
    import torch
    import transformers  # noqa: F401

    from multiagentllm.models import load_llm
    from multiagentllm.models.backends.checkpoint import read_manifest
    from multiagentllm.models.load import resolve_base

    torch.set_num_threads(1)
    base = resolve_base(read_manifest(ckpt).base)
    gc.collect()
    before = rss_mb()
    # Weights are memory-mapped, so each variant also runs once: every page it uses is resident.
    if mode == "one":
        keep = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
        with torch.no_grad():
            keep(torch.tensor([[1, 2, 3]]))
    else:
        keep = load_llm(ckpt, separate=(mode == "separate"), device="cpu")
        for role in ("planner", "caller", "summarizer"):
            keep.complete(["Hello"], role=role, max_new_tokens=1, stop=[])
    gc.collect()
    print(json.dumps({"mode": mode, "mb": rss_mb() - before, "kept": type(keep).__name__}))


def measure_memory(ckpt: Path) -> dict[str, float]:
    out = {}
    for mode in ("one", "shared", "separate"):
        proc = subprocess.run([sys.executable, __file__, "--_memory", mode, str(ckpt)],
                              capture_output=True, text=True, check=True)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])["mb"]
    return out


def synthetic_checkpoint(folder: Path) -> Path:
    """Random LoRA adapters on the embedded base, in the checkpoint layout (see models/backends)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from multiagentllm.models.load import resolve_base
    from multiagentllm.roles.render import PROMPT_VERSION

    base = resolve_base("embedded")
    for i, name in enumerate(("stage1_backbone", "planner", "caller", "summarizer")):
        torch.manual_seed(i)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                               LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                          init_lora_weights=False))
        with torch.no_grad():  # small random B so the adapters change outputs but stay fluent-ish
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.002)
        model.save_pretrained(folder / name)
    roles = {r: {"path": r, "on": "stage1"} for r in ("planner", "caller", "summarizer")}
    (folder / "manifest.json").write_text(json.dumps({
        "format": "lora", "base": "embedded", "prompt_version": PROMPT_VERSION,
        "stage1": "stage1_backbone", "roles": roles}))
    return folder


class GenerateLLM:
    """The baseline: plain `model.generate` (default settings, greedy) per prompt, the role's
    adapter switched with `set_adapter`, the stop strings passed as `stop_strings`."""

    def __init__(self, backend):
        self.backend = backend

    def complete(self, prompts, *, role, max_new_tokens, stop):
        import torch

        from multiagentllm.models.backends.scripted import cut_at_stop
        from multiagentllm.models.tokens import encode

        entry = self.backend.role(role)
        if entry.adapter:
            entry.model.set_adapter(entry.adapter)
        tok = self.backend.tokenizer
        outs = []
        for p in prompts:
            ids = torch.tensor([encode(tok, p)])
            with torch.no_grad():
                gen = entry.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                           max_new_tokens=max_new_tokens, stop_strings=stop or None,
                                           tokenizer=tok)
            outs.append(cut_at_stop(tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True), stop))
        return outs


def decode_rates(backend, role: str, n: int, repeats: int, drafts: int) -> dict[str, float | bool]:
    """Median decode tokens/s of generate and of the runtime (without and with prompt-lookup
    drafts), interleaved, on a chat prompt that makes the model write at length."""
    import torch

    from multiagentllm.models.tokens import encode

    tok = backend.tokenizer
    prompt = tok.apply_chat_template([{"role": "user", "content": "Write a long story about a dragon "
                                       "who learns to book flights."}], tokenize=False,
                                     add_generation_prompt=True)
    entry = backend.role(role)
    ids = torch.tensor([encode(tok, prompt)])

    def generate(k):
        if entry.adapter:
            entry.model.set_adapter(entry.adapter)
        t, c = time.perf_counter(), time.process_time()
        with torch.no_grad():
            out = entry.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=k)
        return (time.perf_counter() - t, time.process_time() - c), out[0, ids.shape[1]:].tolist()

    def runtime(k, draft):
        runner = backend.runner(entry.model)
        if hasattr(runner, "saved"):
            runner.saved.clear()  # no prefix reuse here: time a cold prefill like generate's
        backend.draft_tokens = draft
        t, c = time.perf_counter(), time.process_time()
        text = backend.complete([prompt], role=role, max_new_tokens=k, stop=[])[0]
        return (time.perf_counter() - t, time.process_time() - c), text

    generate(4), runtime(4, 0)  # warm-up
    arms = ("generate", "runtime", "runtime+drafts")
    rates: dict[str, list[float]] = {f"{a}{s}": [] for a in arms for s in ("", "_cpu")}
    same = True
    for _ in range(repeats):
        g1, _ = generate(1)
        gn, gen_ids = generate(n)
        r1, _ = runtime(1, 0)
        rn, text = runtime(n, 0)
        d1, _ = runtime(1, drafts)
        dn, dtext = runtime(n, drafts)
        steps = len(gen_ids) - 1
        for name, one, full in (("generate", g1, gn), ("runtime", r1, rn), ("runtime+drafts", d1, dn)):
            rates[name].append(steps / (full[0] - one[0]))
            rates[f"{name}_cpu"].append(steps / max(full[1] - one[1], 1e-9))
        same &= tok.decode(gen_ids, skip_special_tokens=True) == text == dtext
    return {**{k: statistics.median(v) for k, v in rates.items()}, "same_tokens": same,
            "tokens": len(gen_ids)}


def role_prompts(data: Path, role: str, n: int) -> list[str]:
    """The first `n` step prompts of a role's held-out test rows (`umi data build` output)."""
    rows = []
    with open(data / role / "test.jsonl", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line)["prompt"])
            if len(rows) == n:
                break
    return rows


def role_decode_rates(trio, data: Path, role: str, n: int, drafts: int) -> dict[str, float | bool]:
    """Decode tokens/s on real role calls (held-out prompts, the role's stop strings and token
    budget) for the runtime without and with prompt-lookup drafts, and for `model.generate` made
    to produce the same tokens (max_new_tokens = the runtime's count, no stop strings: HF's
    `stop_strings` also match across the prompt boundary, e.g. the prompt's final newline plus a
    generated "Rationale:", which would end the baseline early). Decode time of a call =
    time(full) - time(first token); prefix reuse is off."""
    import torch

    from multiagentllm.models.backends.scripted import cut_at_stop
    from multiagentllm.models.tokens import encode
    from multiagentllm.roles import caller, planner, summarizer

    module = {"planner": planner, "caller": caller, "summarizer": summarizer}[role]
    entry = trio.role(role)
    runner = trio.runner(entry.model)
    tok = trio.tokenizer

    def runtime(prompt, k, draft):
        trio.draft_tokens = draft
        getattr(runner, "saved", {}).clear()
        t = time.perf_counter()
        text = trio.complete([prompt], role=role, max_new_tokens=k, stop=module.STOP)[0]
        return time.perf_counter() - t, text

    def generate(ids, k):
        entry.model.set_adapter(entry.adapter)
        t = time.perf_counter()
        with torch.no_grad():
            out = entry.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=k)
        return time.perf_counter() - t, out[0, ids.shape[1]:].tolist()

    seconds = {"generate": 0.0, "runtime": 0.0, "runtime+drafts": 0.0}
    tokens, same = 0, True
    accepted, proposed = getattr(runner, "accepted", 0), getattr(runner, "proposed", 0)
    for prompt in role_prompts(data, role, n):
        first, _ = runtime(prompt, 1, 0)
        full, text = runtime(prompt, module.MAX_NEW_TOKENS, 0)
        seconds["runtime"] += full - first
        first, _ = runtime(prompt, 1, drafts)
        full, drafted = runtime(prompt, module.MAX_NEW_TOKENS, drafts)
        seconds["runtime+drafts"] += full - first
        ids = torch.tensor([encode(tok, prompt)])
        count = max(trio.count_tokens(text), 2)
        first, _ = generate(ids, 1)
        full, gen_ids = generate(ids, count)
        seconds["generate"] += full - first
        tokens += len(gen_ids) - 1
        reference = cut_at_stop(tok.decode(gen_ids, skip_special_tokens=True), module.STOP)
        # generate ran only as many tokens as the runtime's text has, so its text is a prefix
        # of the runtime's text followed by the stop string that ended it
        same &= drafted == text and any((text + s).startswith(reference) for s in ["", *module.STOP])
    trio.draft_tokens = drafts
    proposed = getattr(runner, "proposed", 0) - proposed
    return {**{name: tokens / max(sec, 1e-9) for name, sec in seconds.items()},
            "same_text": same, "tokens": tokens,
            "acceptance": (getattr(runner, "accepted", 0) - accepted) / proposed if proposed else 0.0}


def replay_episode(llm, max_new: int | None = None) -> tuple[float, int, str]:
    """Latency of the reference flight episode: real model calls, reference outputs continue it."""
    from multiagentllm.agent import Agent, AgentConfig
    from multiagentllm.models.backends import ScriptedLLM
    from multiagentllm.tools import default_registry

    def obs(prompt):
        return json.loads([ln for ln in prompt.splitlines() if ln.startswith("Observation: ")][-1][13:])

    def call(name, **args):
        return f"Action: {name}\nAction Input: {json.dumps(args)}"

    script = ScriptedLLM({
        "planner": ["Rationale: Find the date of next Tuesday.\nNext: Caller",
                    "Rationale: Search flights from New York to Los Angeles on that date.\nNext: Caller",
                    "Rationale: Book the cheaper flight.\nNext: Caller",
                    "Rationale: The flight is booked; answer.\nNext: Summarizer"],
        "caller": [call("resolve_date", expression="next Tuesday"),
                   lambda p: call("search_flights", origin="New York", destination="Los Angeles",
                                  date=obs(p)["date"]),
                   lambda p: call("book_flight", passenger="Alex Kim", flight_id=min(
                       obs(p)["flights"], key=lambda f: f["price_usd"])["flight_id"])],
        "summarizer": [lambda p: f"Booked {obs(p)['flight_id']}; your reference is {obs(p)['pnr']}."],
    })
    generated = []

    class Replay:
        def complete(self, prompts, *, role, max_new_tokens, stop):
            cap = min(max_new_tokens, max_new or max_new_tokens)
            generated.append(llm.complete(prompts, role=role, max_new_tokens=cap, stop=stop))
            return script.complete(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop)

    t = time.perf_counter()
    result = Agent(Replay(), default_registry(), AgentConfig(max_seconds=None)).run(FLIGHT)
    return time.perf_counter() - t, len(generated), result.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="checkpoint folder (default: shipped, else synthetic)")
    ap.add_argument("--tokens", type=int, default=64, help="tokens per decode measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--skip-episode", action="store_true")
    ap.add_argument("--data", default="out/data", help="`umi data build` output: role prompts of its test split")
    ap.add_argument("--role-prompts", type=int, default=4, help="held-out prompts per role (0 skips)")
    ap.add_argument("--drafts", type=int, default=8, help="prompt-lookup draft tokens per forward")
    ap.add_argument("--episode-max-new", type=int, default=None,
                    help="cap every call's max_new_tokens in the episode (both sides alike)")
    ap.add_argument("--_memory", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory:
        memory_child(*args._memory)
        return

    import torch

    from multiagentllm.models import load_llm
    from multiagentllm.models.backends.checkpoint import CheckpointError, default_checkpoint

    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory(prefix="umi-bench-")
    if args.checkpoint:
        ckpt, kind = Path(args.checkpoint), "given"
    else:
        try:
            ckpt, kind = default_checkpoint(), "shipped"
        except CheckpointError:
            print("no trained checkpoint: building a synthetic one (random LoRA r=16 adapters)…", flush=True)
            ckpt, kind = synthetic_checkpoint(Path(tmp.name)), "synthetic"
    print(f"checkpoint: {ckpt} ({kind}); torch threads: {args.threads}; cpu cores: {os.cpu_count()}; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

    mem = measure_memory(ckpt)
    print("\n== resident memory (MB, growth after loading, fresh process each)")
    print(f"one plain model                 {mem['one']:8.1f}   1.00x")
    print(f"trio: one base + 3 adapters     {mem['shared']:8.1f}   {mem['shared'] / mem['one']:.2f}x   (target <= 1.3x)")
    print(f"trio: three separate copies     {mem['separate']:8.1f}   {mem['separate'] / mem['one']:.2f}x", flush=True)

    trio = load_llm(ckpt)
    from multiagentllm.models.backends.hf import HFBackend, RoleModel
    from transformers import AutoModelForCausalLM

    from multiagentllm.models.load import resolve_base

    base_model = AutoModelForCausalLM.from_pretrained(resolve_base("embedded")).eval()
    plain = HFBackend(trio.tokenizer, {"base": RoleModel(base_model)})
    print(f"\n== decode tokens/s (greedy, batch 1, {args.tokens} tokens, median of {args.repeats})")
    for label, backend, role in (("base model", plain, "base"), ("planner adapter", trio, "planner")):
        r = decode_rates(backend, role, args.tokens, args.repeats, args.drafts)
        print(f"{label:16s} generate {r['generate']:6.1f}   runtime {r['runtime']:6.1f} "
              f"({r['runtime'] / r['generate']:.2f}x)   runtime+drafts {r['runtime+drafts']:6.1f} "
              f"({r['runtime+drafts'] / r['generate']:.2f}x, target >= 2x)   same tokens: {r['same_tokens']}",
              flush=True)
        print(f"{'':16s} per CPU-second: generate {r['generate_cpu']:6.1f}   runtime {r['runtime_cpu']:6.1f} "
              f"({r['runtime_cpu'] / r['generate_cpu']:.2f}x)   runtime+drafts {r['runtime+drafts_cpu']:6.1f} "
              f"({r['runtime+drafts_cpu'] / r['generate_cpu']:.2f}x)", flush=True)
    trio.draft_tokens = plain.draft_tokens = args.drafts

    data = Path(args.data)
    if args.role_prompts and not (data / "caller" / "test.jsonl").is_file():
        print(f"\n(no {data}/caller/test.jsonl: role decode skipped; build data with `umi data build`)")
    elif args.role_prompts:
        print(f"\n== decode tokens/s on held-out role calls ({args.role_prompts} per role, role stop "
              f"strings and budgets; drafts: prompt lookup, {args.drafts} per forward)")
        for role in ("planner", "caller", "summarizer"):
            r = role_decode_rates(trio, data, role, args.role_prompts, args.drafts)
            print(f"{role:11s} generate {r['generate']:6.1f}   runtime {r['runtime']:6.1f} "
                  f"({r['runtime'] / r['generate']:.2f}x)   runtime+drafts {r['runtime+drafts']:6.1f} "
                  f"({r['runtime+drafts'] / r['generate']:.2f}x, target >= 2x)   drafts kept "
                  f"{r['acceptance']:.0%}   same text: {r['same_text']}   ({r['tokens']} tokens)", flush=True)

    if not args.skip_episode:
        print("\n== end-to-end episode latency (reference flight trajectory, every model call real)")
        base_s, calls, status = replay_episode(GenerateLLM(trio), args.episode_max_new)
        for runner in trio._runners.values():
            getattr(runner, "saved", {}).clear()
        run_s, _, _ = replay_episode(trio, args.episode_max_new)
        print(f"model.generate  {base_s:7.1f} s   runtime {run_s:7.1f} s   {base_s / run_s:.2f}x faster   "
              f"({calls} model calls, episode {status})")
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (other work on the same cores slows both sides)")


if __name__ == "__main__":
    main()
