"""The report step of recipes/tinyllama_cpu.py: its measurements (WORK/measure/*.json) as one
Markdown page and one JSON file, beside the GPU estimates of recipes/README.md."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

GB = 1e9


def _gb(n: float | None, digits: int = 2) -> str:
    return "–" if n is None else f"{n / GB:.{digits}f} GB"


def _mb(n: float | None) -> str:
    return "–" if n is None else f"{n / 1e6:.0f} MB"


def machine() -> dict[str, Any]:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "torch": torch.__version__,
            "date": datetime.date.today().isoformat()}


def report(run: Any, stages: list[tuple[Any, dict[str, Any] | None]], counts: dict[str, int], *, lora_r: int,
           overrides: dict[str, tuple[Any, str]], estimates: dict[str, Any],
           reference: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The run's report: `stages` (each stage config with its measurement, None when not run),
    the shape's parameter `counts`, and the recipe's CPU `overrides`, GPU `estimates` and the
    `reference` shape (TinyLlama-1.1B's), which `tinyllama_cpu.py` owns."""
    export, vllm, base = run.measured("export"), run.measured("vllm"), run.measured("base")
    values = {"shape": run.config, "tag": run.tag, "parameters": counts, "machine": machine(),
              "overrides": {k: v for k, (v, _) in overrides.items()}, "gpu_estimates": estimates,
              "base": base, "train": {cfg.stage: m for cfg, m in stages}, "export": export, "vllm": vllm}
    m = values["machine"]
    exact = run.tag == "tinyllama-1.1b"
    lines = [f"# The TinyLlama recipe on a CPU: {run.tag}, random weights", "",
             f"`python recipes/tinyllama_cpu.py{'' if exact else _shape_flags(run.config)}` on {m['cpu']} "
             f"({m['cores']} cores, {m['memory_bytes'] / GB:.0f} GB), torch {m['torch']}, {m['date']}.", "",
             f"Shape: {run.config['num_hidden_layers']} layers, hidden {run.config['hidden_size']}, "
             f"{run.config['num_attention_heads']} heads ({run.config['num_key_value_heads']} KV), "
             f"intermediate {run.config['intermediate_size']}, vocab {run.config['vocab_size']}: "
             f"{counts['model'] / 1e9:.3f}B parameters, {counts['lora'] / 1e6:.1f}M in the LoRA r={lora_r} "
             f"adapters. " + ("TinyLlama-1.1B's exact shape." if exact else
                              f"**Not** TinyLlama's shape ({reference['num_hidden_layers']} layers, hidden "
                              f"{reference['hidden_size']}): a small run that checks the script."), "",
             f"Tokenizer: the Llama 2 layout (32,000 ids, byte fallback), trained on the synthesized "
             f"trajectories{_unused(base)}; the model is randomly initialised (seed 0) and saved in bf16. "
             "The `load avg` column says how busy the CPU already was when a stage started.", "",
             "The `tinyllama` preset as the GPU recipe runs it (bf16 autocast, gradient checkpointing, "
             "LoRA r=64 on every linear layer, 4 packs x 2 accumulation steps, packed SDPA), launched by "
             "`accelerate launch --config_file configs/accelerate/single_gpu.yaml`, except:", "",
             "| override | value | why |", "|---|---|---|"]
    lines += [f"| `{k}` | {v} | {why} |" for k, (v, why) in overrides.items()]
    lines += ["", "## Training: two optimizer steps per stage", "",
              "| stage | from | peak RSS | wall (load, 2 steps, dev, save) | train s/step | tokens/step | tok/s "
              "| loss step 1, 2 | adapter | resumable checkpoint | load avg at start |",
              "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for cfg, s in stages:
        if s is None:
            lines.append(f"| {cfg.stage} | {cfg.init} | not measured | | | | | | | | |")
            continue
        met = s["metrics"]
        per_step = met["train_seconds_this_run"] / max(1, met["steps"])
        tokens = (met["tokens_per_second"] or 0) * met["train_seconds_this_run"] / max(1, met["steps"])
        losses = ", ".join(f"{loss:.3f}" for _, loss in met["loss_log"])
        lines.append(f"| {cfg.stage} | {cfg.init} | {_gb(s['peak_rss_bytes'])} | {s['seconds']:.0f} s "
                     f"| {per_step:.1f} s | {tokens:.0f} | {met['tokens_per_second']:.0f} | {losses} "
                     f"| {_mb(s['adapter_bytes'])} | {_mb(s['checkpoint_bytes'])} | {s['load_before']:.1f} |")
    lines += ["", "## Beside the recipe's GPU estimates", "", _estimates_table(counts, stages, export, estimates, overrides), ""]
    if export:
        lines += ["## Export (`umi export vllm --dtype bfloat16`)", "",
                  f"{export['seconds']:.0f} s, peak RSS {_gb(export['peak_rss_bytes'])}; "
                  + ", ".join(f"`{k}/` {_gb(v, 3) if v > 1e8 else _mb(v)}" for k, v in export["bytes"].items())
                  + ".", ""]
    if vllm:
        lines += ["## vLLM CPU serving the export (the `vllm serve` lines of its serve.md)", "",
                  "| server | ready after | RSS when ready | peak RSS (sampled every 0.5 s) |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {v['ready_seconds']:.0f} s | {_gb(v['rss_ready_bytes'])} "
                  f"| {_gb(v['tree_peak_rss_bytes'])} |" for name, v in vllm.items()]
        lines += ["", "RSS is summed over the server's processes (API server, engine core), pages they "
                  "share counted in each; it includes the 1 GiB KV cache (`VLLM_CPU_KVCACHE_SPACE=1`)."]
        lines += ["", "One greedy completion of 16 tokens per served model (random weights: the text is "
                  "noise; what counts is that every adapter loads and answers):", "",
                  "| model | prompt | prompt tokens | seconds | vLLM's prompt ids = training's |",
                  "|---|---|---:|---:|---|"]
        for v in vllm.values():
            for model, c in v["completions"].items():
                same = "yes" if c["same_ids_as_training"] else f"**no** (from token {c['ids_differ_at']})"
                lines.append(f"| {model} | {c['prompt_from']} | {c['prompt_tokens']} | {c['seconds']} | {same} |")
        lines.append("")
    return "\n".join(lines), values


def _unused(base: dict[str, Any] | None) -> str:
    n = (base or {}).get("unused_token_ids")
    return f" ({n} ids left unused: the corpus gave fewer pieces)" if n else ""


def _shape_flags(config: dict[str, Any]) -> str:
    return f" --layers {config['num_hidden_layers']} --hidden {config['hidden_size']}"


def _estimates_table(counts: dict[str, int], stages: list, export: dict | None, E: dict[str, Any],
                     overrides: dict[str, tuple[Any, str]]) -> str:
    done = [s for _, s in stages if s]
    peak = max((s["peak_rss_bytes"] for s in done), default=None)
    adapters = [s["adapter_bytes"] for s in done if s.get("adapter_bytes")]
    ckpts = [s["checkpoint_bytes"] for s in done if s.get("checkpoint_bytes")]
    tok_s = [s["metrics"]["tokens_per_second"] for s in done if s["metrics"].get("tokens_per_second")]
    rate = sum(tok_s) / len(tok_s) if tok_s else None
    export_bytes = sum(v for k, v in export["bytes"].items() if k in ("backbone", "single", "adapters")) if export else None
    fp32, lora = 4 * counts["model"], counts["lora"]
    rows = [
        ("frozen weights (fp32 master copy)", f"{E['frozen_weights_gb']} GB", _gb(fp32), "in the peak below"),
        ("LoRA r=64 weights, gradients, AdamW moments (fp32)", f"~{E['lora_and_adam_gb']} GB",
         _gb(16 * lora), "in the peak below"),
        ("training memory", E["gpu_memory_gb"], "–",
         f"peak RSS {_gb(peak)} (at ≤{4 * overrides['pack_tokens'][0]} tokens per forward)"),
        ("role adapter (bf16)", f"~{E['adapter_mb']} MB", _mb(2 * lora),
         f"{_mb(min(adapters))}–{_mb(max(adapters))}" if adapters else "–"),
        ("resumable checkpoint (adapter, AdamW state, RNG)", f"~{E['checkpoint_gb']} GB (two: ~1.3 GB)",
         _gb(12 * lora), _gb(max(ckpts)) if ckpts else "–"),
        ("export (backbone, single, adapters; bf16)", f"~{E['export_gb']} GB", _gb(4 * counts["model"] + 3 * 2 * lora),
         _gb(export_bytes)),
        ("tokens per second", f"{E['tokens_per_s_a100']:,} (A100), ~{E['tokens_per_s_h100']:,} (H100)", "–",
         f"{rate:.0f} (this CPU)" if rate else "–"),
        (f"one optimizer step of {E['tokens_per_step']:,} tokens", f"~{E['tokens_per_step'] / E['tokens_per_s_a100']:.1f} s "
         f"(A100), ~{E['tokens_per_step'] / E['tokens_per_s_h100']:.1f} s (H100)", "–",
         f"~{E['tokens_per_step'] / rate / 60:.0f} min at this CPU's rate" if rate else "–"),
    ]
    return "\n".join(["| quantity | recipe's GPU estimate (TinyLlama-1.1B) | from this shape's parameter count "
                      "| measured here (CPU) |", "|---|---|---|---|",
                      *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)])
