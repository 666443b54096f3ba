"""The TinyLlama recipe executed on a CPU, on a randomly initialised model of TinyLlama-1.1B's exact
shape: every config, shape, memory figure and file path of `reproduce_tinyllama.sh` end to end,
except the CUDA kernels.

    python recipes/tinyllama_cpu.py                            # the full shape: ~45 min, ~8 GB RAM, ~8 GB disk
    python recipes/tinyllama_cpu.py --layers 2 --hidden 256    # a small shape: ~10 min, checks the script
    python recipes/tinyllama_cpu.py --steps vllm report        # only these steps

It writes under out/tinyllama-cpu/<shape>/ and reports to results/tinyllama-cpu/<shape>.md and
.json (<shape>: tinyllama-1.1b, or e.g. l2-h256), then prints the report. vLLM runs from
--vllm-python (default .venv-vllm/bin/python, `make vllm`; or $VLLM_PYTHON).

Steps, each skipped when it finished before (delete its output to redo it):

  synth   `umi data synth`: synthetic and executed real trajectories (`--synth-n`)
  base    a Llama-style 32k tokenizer trained on them, and the random TinyLlama-shaped model
  data    `umi data build --tokenizer BASE` (the recipe's data step, the synthetic set only)
  train   each stage of the `tinyllama` preset, launched as the recipe launches it (`accelerate
          launch --config_file configs/accelerate/single_gpu.yaml ... train --config tinyllama.yaml
          --resume stage=S ...`), with only the overrides in CPU_OVERRIDES
  export  `umi export vllm --dtype bfloat16`, as the recipe's export step
  vllm    the `vllm serve` commands of the export's serve.md, run with vLLM's CPU build: the
          backbone with the three role adapters (rank 64) and the single-LLM model, one completion
          per served model, and the prompt's token ids in vLLM against training's
  report  the measurements beside the GPU estimates of recipes/README.md (Markdown and JSON)

The tokenizer: no hub is reachable here, so TinyLlama's own (Llama 2's SentencePiece BPE) is not
available. The one built here has its layout: 32,000 ids, <unk> <s> </s> at 0-2, the 256 byte
tokens <0x00>..<0xFF> at 3-258 (byte fallback), "▁" word boundaries, a <s> prepended to every text,
and <s> and </s> as special tokens, so the train/serve tokenization checks mean what they would for
TinyLlama. Its pieces are learned from the synthesized trajectories, so it cuts this data into
fewer tokens than Llama's would; row lengths are capped by the overrides anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinyllama_cpu_report import report  # beside this file (python puts the script's folder on sys.path)

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "src" / "multiagentllm" / "configs" / "train" / "tinyllama.yaml"
ACCELERATE_CONFIG = REPO / "configs" / "accelerate" / "single_gpu.yaml"
STEPS = ("synth", "base", "data", "train", "export", "vllm", "report")

# TinyLlama/TinyLlama-1.1B-Chat-v1.0's config.json, the fields that fix the shape and the numerics
TINYLLAMA = {"num_hidden_layers": 22, "hidden_size": 2048, "intermediate_size": 5632,
             "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000,
             "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
             "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False,
             "initializer_range": 0.02, "bos_token_id": 1, "eos_token_id": 2}

# key: (value, why).  Everything else is the preset as the GPU recipe runs it: bf16, gradient
# checkpointing, LoRA r=64 on every linear layer, packs_per_step 4 x grad_accum 2, packed_sdpa.
CPU_OVERRIDES = {
    "device": ("cpu", "there is no GPU"),
    "max_steps": (2, "two optimizer steps per stage; the preset's epochs are ~4,700 steps on the real data"),
    "pack_tokens": (512, "short rows: 4 x 2 packs of 512 tokens (4k tokens) per step instead of 32k, "
                         "so a step of the 1.1B shape takes minutes on 2 cores, not an hour"),
    "max_length": (512, "rows are cut to fit the smaller pack (max_length <= pack_tokens)"),
    "max_dev_rows": (4, "the final dev pass over the preset's 500 rows would take hours on a CPU"),
    "logging_steps": (1, "both steps' losses in metrics.json (the preset logs every 10th)"),
    "save_steps": (2, "the resumable checkpoint (adapter, AdamW state, RNG) the GPU run writes "
                      "every 200 steps is written once per stage, at its last step"),
    "keep_checkpoints": (True, "kept until its size is measured; this script then deletes it"),
}

# recipes/README.md's estimates for the GPU run (TinyLlama-1.1B, the preset unchanged)
GPU_ESTIMATES = {
    "gpu_memory_gb": "15-20 GB per GPU (16k tokens per forward)",
    "frozen_weights_gb": 4.4, "lora_and_adam_gb": 0.8, "adapter_mb": 100,
    "checkpoint_gb": 0.65,  # "~1.3 GB while a stage trains (two resumable checkpoints)"
    "export_gb": 4.7, "tokens_per_step": 32768, "tokens_per_s_a100": 10_000, "tokens_per_s_h100": 25_000,
}


# -- the model ----------------------------------------------------------------------------------

def shape(layers: int | None = None, hidden: int | None = None, intermediate: int | None = None,
          heads: int | None = None, kv_heads: int | None = None) -> dict[str, Any]:
    """TinyLlama-1.1B's config, or a smaller one keeping its ratios: head size 64 (vLLM's CPU
    attention has kernels for a few head sizes only), 8 query heads per KV head, intermediate
    2.75 x hidden."""
    config = dict(TINYLLAMA)
    if layers:
        config["num_hidden_layers"] = layers
    if hidden:
        config["hidden_size"] = hidden
        config["intermediate_size"] = hidden * 5632 // 2048
        config["num_attention_heads"] = max(1, hidden // 64)
        config["num_key_value_heads"] = max(1, config["num_attention_heads"] // 8)
    for key, value in (("intermediate_size", intermediate), ("num_attention_heads", heads),
                       ("num_key_value_heads", kv_heads)):
        if value:
            config[key] = value
    return config


def parameter_counts(config: dict[str, Any], lora_r: int) -> dict[str, int]:
    """Parameters of the model, and of LoRA on every linear layer but the LM head (PEFT's
    "all-linear"), from the shape alone."""
    h, i, v, n = (config[k] for k in ("hidden_size", "intermediate_size", "vocab_size", "num_hidden_layers"))
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    linears = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]  # q k v o gate up down
    per_layer = sum(a * b for a, b in linears) + 2 * h
    model = n * per_layer + v * h * (1 if config["tie_word_embeddings"] else 2) + h
    return {"model": model, "lora": n * sum(lora_r * (a + b) for a, b in linears)}


def llama_tokenizer(texts: Iterable[str], vocab_size: int = 32000) -> Any:
    """A fast tokenizer with the Llama-2 layout (see the module docstring), its pieces learned
    from `texts`. A corpus too small for `vocab_size` pieces gets unused <extra_N> entries at the
    end (no merge produces them), so the id space is still `vocab_size`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special, byte_tokens = ["<unk>", "<s>", "</s>"], [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size - len(byte_tokens), special_tokens=special, limit_alphabet=1000,
        show_progress=False))
    # the byte tokens go right after the special ones, as ordinary (not special) tokens
    spec = json.loads(tok.to_str())
    learned = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])[len(special):]
    names = special + byte_tokens + [t for t, _ in learned]
    names += [f"<extra_{k}>" for k in range(vocab_size - len(names))]
    spec["model"]["vocab"] = {t: k for k, t in enumerate(names)}
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="</s>", model_max_length=2048)


def build_base(folder: Path, config: dict[str, Any], corpus: Iterable[str], seed: int = 0) -> int:
    """The random model (bf16, as TinyLlama is published) and the tokenizer, as an HF folder; how
    many unused <extra_N> ids the tokenizer needed."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from multiagentllm.io import atomic_dir

    tokenizer = llama_tokenizer(corpus, config["vocab_size"])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**config), dtype=torch.bfloat16)
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return sum(1 for t in tokenizer.get_vocab() if t.startswith("<extra_"))


# -- child processes, measured --------------------------------------------------------------------

def run_measured(argv: list[str], *, log: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `argv` to the end; its wall time and peak RSS (the largest process of its tree, from
    the kernel's accounting). A failure stops the script with the command."""
    print(f"$ {shlex.join(argv)}", flush=True)
    out = open(log, "w") if log else None
    started, load = time.perf_counter(), os.getloadavg()[0]
    try:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT if out else None,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out:
            out.close()
    if proc.returncode != 0:
        tail = f"\n{log.read_text()[-3000:]}" if log else ""
        raise SystemExit(f"failed (exit {proc.returncode}): {shlex.join(argv)}{tail}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_bytes": usage.ru_maxrss * 1024,
            "load_before": load, "command": shlex.join(argv)}


def umi(*args: str) -> list[str]:
    return [sys.executable, "-m", "multiagentllm.cli", *args]


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else (
        path.stat().st_size if path.exists() else 0)


class Run:
    """The folders of one run and its measurements (WORK/measure/<name>.json, one per step)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.config = shape(args.layers, args.hidden, args.intermediate, args.heads, args.kv_heads)
        exact = all(self.config[k] == v for k, v in TINYLLAMA.items())
        self.tag = "tinyllama-1.1b" if exact else (
            f"l{self.config['num_hidden_layers']}-h{self.config['hidden_size']}")
        self.work = Path(args.work or REPO / "out" / "tinyllama-cpu" / self.tag).resolve()
        self.results = Path(args.results or REPO / "results" / "tinyllama-cpu" / self.tag).resolve()
        self.synth, self.base, self.data = self.work / "synth", self.work / "base", self.work / "data"
        self.ckpt, self.export, self.logs = self.work / "checkpoint", self.work / "vllm", self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def measured(self, name: str) -> dict[str, Any] | None:
        path = self.work / "measure" / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def record(self, name: str, values: dict[str, Any]) -> None:
        from multiagentllm.io import atomic_open

        with atomic_open(self.work / "measure" / f"{name}.json") as f:
            f.write(json.dumps(self.portable(values), indent=2) + "\n")

    def portable(self, value: Any) -> Any:
        """`value` with this machine's folders in its commands written as $WORK, `python` and
        paths relative to the checkout, so the committed measurements read the same anywhere."""
        if isinstance(value, dict):
            return {k: self.portable(v) if k != "command" or not isinstance(v, str) else self.shown(v)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.portable(v) for v in value]
        return value

    def shown(self, command: str) -> str:
        for path, name in ((sys.executable, "python"), (str(self.work), "$WORK"), (str(REPO) + "/", "")):
            command = command.replace(path, name)
        return command


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


# -- the steps ----------------------------------------------------------------------------------

def step_synth(run: Run) -> None:
    if (run.synth / "card.md").exists():
        return say(f"synth: done before ({run.synth})")
    real = [] if run.args.data_root.is_dir() else ["--real", ""]  # without the datasets: synthetic only
    say(f"synth: {run.args.synth_n} synthetic trajectories{' (no real ones: no datasets)' if real else ''} "
        f"-> {run.synth}")
    run.record("synth", run_measured(umi("data", "synth", "--out", str(run.synth), "--n", str(run.args.synth_n),
                                         "--data-root", str(run.args.data_root), *real)))


def step_base(run: Run) -> None:
    if (run.base / "config.json").exists():
        found = json.loads((run.base / "config.json").read_text())
        differs = {k: (found.get(k), v) for k, v in run.config.items()
                   if k in ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                            "num_key_value_heads", "vocab_size") and found.get(k) != v}
        if differs:
            raise SystemExit(f"{run.base} holds another shape ({differs}); delete {run.work} or pass --work")
        return say(f"base: done before ({run.base})")
    from multiagentllm.data.builders import sequence_row
    from multiagentllm.io import read_trajectories

    say(f"base: a 32k Llama-style tokenizer and a random {run.tag} model -> {run.base}")
    started = time.perf_counter()

    def corpus() -> Iterable[str]:
        for traj in read_trajectories(run.synth / "trajectories.jsonl", skip_bad=True):
            row = sequence_row(traj, "global")
            if row is not None:
                yield row["text"]

    extra = build_base(run.base, run.config, corpus())
    run.record("base", {"seconds": round(time.perf_counter() - started, 1), "size_bytes": size(run.base),
                        "unused_token_ids": extra})


def step_data(run: Run) -> None:
    if (run.data / "stats.json").exists():
        return say(f"data: done before ({run.data})")
    say(f"data: the GLPFT training sets with the base's tokenizer -> {run.data}")
    # the recipe's data step also reads every public dataset (--sources default, 10-20 min); the
    # synthesized set (which executed real instructions of several of them) gives rows of every format
    run.record("data", run_measured(umi("data", "build", "--out", str(run.data), "--sources", "",
                                        "--synthetic", str(run.synth), "--skip-bad", "--tokenizer", str(run.base))))


def train_commands(run: Run) -> list[tuple[Any, list[str]]]:
    """(config, command) of each preset stage: the recipe's `launch train ...` line for it, plus
    CPU_OVERRIDES; each config is resolved (and checked) as `umi train` will resolve it."""
    from multiagentllm.train.chain import chain_configs

    overrides = {k: v for k, (v, _) in CPU_OVERRIDES.items()}
    common = {"base": str(run.base), "accelerate_config": str(ACCELERATE_CONFIG.relative_to(REPO)), **overrides}
    out = []
    for cfg in chain_configs(str(PRESET), run.data, run.ckpt, common):
        argv = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIG),
                "--num_processes", "1", "-m", "multiagentllm.cli", "train", "--config", str(PRESET),
                "--resume", f"stage={cfg.stage}", f"data={run.data}", f"out={run.ckpt}",
                *(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in common.items())]
        out.append((cfg, argv))
    return out


def step_train(run: Run) -> None:
    commands = train_commands(run)
    for i, (cfg, argv) in enumerate(commands, 1):
        folder = run.ckpt / cfg.folder
        if (folder / "metrics.json").exists():
            say(f"train [{i}/{len(commands)}] {cfg.stage}: done before ({folder})")
            continue
        say(f"train [{i}/{len(commands)}] {cfg.stage}: {cfg.dataset} data, from {cfg.init} -> {folder}")
        measured = run_measured(argv)
        work = run.ckpt / ".work" / cfg.stage
        saved = sorted(work.glob("checkpoint-*"))
        measured["checkpoint_bytes"] = size(saved[-1]) if saved else None
        shutil.rmtree(work, ignore_errors=True)
        with_metrics = json.loads((folder / "metrics.json").read_text())
        measured["adapter_bytes"] = size(folder / "adapter_model.safetensors")
        measured["metrics"] = {k: with_metrics.get(k) for k in (
            "steps", "train_seconds_this_run", "tokens_per_second", "target_tokens_per_second",
            "loss_log", "eval_loss", "trainable_parameters", "bf16", "device", "data")}
        run.record(f"train-{cfg.stage}", measured)
        print(f"{cfg.stage}: {measured['seconds']:.0f} s, peak RSS {measured['peak_rss_bytes'] / 1e9:.2f} GB, "
              f"{with_metrics['train_seconds_this_run'] / max(1, with_metrics['steps']):.1f} s/step", flush=True)
    with contextlib.suppress(OSError):
        (run.ckpt / ".work").rmdir()


def step_export(run: Run) -> None:
    if (run.export / "serve.md").exists():
        return say(f"export: done before ({run.export})")
    say(f"export: backbone + role adapters for vLLM -> {run.export}")
    measured = run_measured(umi("export", "vllm", "--checkpoint", str(run.ckpt), "--out", str(run.export),
                                "--dtype", "bfloat16"))
    measured["bytes"] = {p.name: size(p) for p in sorted(run.export.iterdir()) if p.is_dir()}
    measured["bytes"].update({f"adapters/{p.name}": size(p) for p in sorted((run.export / "adapters").iterdir())})
    run.record("export", measured)


def step_vllm(run: Run) -> None:
    import tinyllama_cpu_vllm as vllm_check  # beside this file

    if run.measured("vllm"):
        return say("vllm: done before (delete WORK/measure/vllm.json to redo it)")
    python = Path(run.args.vllm_python)
    servers = vllm_check.serve_commands((run.export / "serve.md").read_text(encoding="utf-8"))
    results = {}
    for name, argv in servers.items():
        say(f"vllm: {name} server ({' '.join(argv[:3])} ...)")
        results[name] = vllm_check.check_server(python, argv, run.data, run.base, run.logs / f"vllm-{name}.log")
    run.record("vllm", results)


def step_report(run: Run) -> None:
    lora_r = 64  # the tinyllama preset's
    stages = [(cfg, run.measured(f"train-{cfg.stage}")) for cfg, _ in train_commands(run)]
    markdown, values = report(run, stages, parameter_counts(run.config, lora_r), lora_r=lora_r,
                              overrides=CPU_OVERRIDES, estimates=GPU_ESTIMATES, reference=TINYLLAMA)
    run.results.parent.mkdir(parents=True, exist_ok=True)
    # appended, not with_suffix: "tinyllama-1.1b" would lose its ".1b" as if it were an extension
    md, js = (run.results.with_name(run.results.name + ext) for ext in (".md", ".json"))
    md.write_text(markdown, encoding="utf-8")
    js.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    say(f"report: {md} and .json")
    print(markdown, flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--work", help="where everything is written (default out/tinyllama-cpu/<shape>)")
    p.add_argument("--results", help="the report's path without suffix (default results/tinyllama-cpu/<shape>)")
    p.add_argument("--layers", type=int, help="a smaller shape (default: TinyLlama-1.1B's 22 layers)")
    p.add_argument("--hidden", type=int, help="a smaller width (heads follow at 64 dimensions each)")
    p.add_argument("--intermediate", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--synth-n", type=int, default=3000, help="synthetic trajectories (the tokenizer's "
                   "corpus and the training rows)")
    p.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets",
                   help="the public datasets; real instructions are executed from them when present")
    p.add_argument("--vllm-python", default=os.environ.get("VLLM_PYTHON", str(REPO / ".venv-vllm" / "bin" / "python")),
                   help="the interpreter with vLLM's CPU build (make vllm)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if "vllm" in args.steps and not Path(args.vllm_python).exists():
        raise SystemExit(f"{args.vllm_python} not found: install vLLM's CPU build (make vllm), pass "
                         "--vllm-python, or leave the vllm step out (--steps ...)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run = Run(args)
    print(f"{run.tag}: {json.dumps({k: run.config[k] for k in list(TINYLLAMA)[:6]})}\nwork: {run.work}", flush=True)
    for step in args.steps:
        globals()[f"step_{step}"](run)


if __name__ == "__main__":
    main()
