"""Training throughput of the GLPFT recipe against a naive baseline, side by side, on this machine.

    .venv/bin/python benchmarks/bench_train_throughput.py [--data DATA] [--dataset global]
                                                         [--steps 3] [--rows 48] [--repeats 2]
                                                         [--pad-to longest] [--compile]

Both arms train the embedded SmolLM2-135M with the same LoRA (r=16, all linear layers) on the same
rows (DATA/<dataset>/train.seq.jsonl from `umi data build`, or rows rendered from the test
fixtures when no DATA is given):

* recipe   - this project's `SpanTrainer` (`train.recipe.make_trainer`) as shipped: rows packed
             padding-free into max-length sequences (positions reset per row), loss on spans,
             bf16 autocast where it is faster than fp32 on this hardware (`bf16: auto`);
* baseline - the plain transformers `Trainer`, fp32, every row padded to the max length, loss on
             the whole sequence (the usual first attempt).  `--pad-to longest` pads to the longest
             row instead, a kinder baseline;
* compiled - with `--compile`: the recipe with `torch_compile: true` (the Trainer wraps the model
             in `torch.compile`, inductor, dynamic shapes). Its first two steps (the compile and
             the recompile for a second pack length) are warm-up, timed apart as compile time; its
             per-step losses are printed beside the recipe's (same rows, same order: they should
             agree to bf16/fp32 rounding).

The figure of merit is *trained completion tokens per second*: supervised span tokens (what a
role actually learns from) processed per second of training step, after one warm-up step.  Also
printed: all non-padding tokens/s, model FLOP utilisation against the bf16 matmul peak measured in
this run, and each arm's peak resident memory (each arm runs in its own process).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_rows(args, tokenizer):
    from multiagentllm.train.data import load_split

    data = Path(args.data) if args.data else fixture_data(Path(tempfile.mkdtemp()))
    rows, _ = load_split(tokenizer, data, args.dataset, "train", max_length=args.max_length,
                         limit=args.rows)
    return rows


def fixture_data(out: Path) -> Path:
    """Rows rendered from the repository's fixture trajectories (varied by id) when no DATA exists."""
    from multiagentllm.data import builders
    from multiagentllm.io import read_trajectories, write_jsonl

    trajs = list(read_trajectories(REPO / "tests" / "fixtures" / "trajectories.jsonl"))
    for name in builders.DATASETS:
        rows = [r for _ in range(24) for t in trajs if (r := builders.sequence_row(t, name))]
        write_jsonl(out / name / "train.seq.jsonl", rows)
    return out


class Recorder:
    """Times each optimizer step and remembers what each batch held."""

    def __init__(self):
        self.times: list[float] = []
        self.losses: list[float] = []
        self.batches: list[tuple[int, int]] = []  # (non-padding tokens, supervised span tokens)

    def callback(self):
        from transformers import TrainerCallback

        rec = self

        class StepTimer(TrainerCallback):
            def on_step_begin(self, *a, **kw):
                rec.started = time.perf_counter()

            def on_step_end(self, *a, **kw):
                rec.times.append(time.perf_counter() - rec.started)

            def on_log(self, args, state, control, logs=None, **kw):
                if logs and "loss" in logs:
                    rec.losses.append(float(logs["loss"]))

        return StepTimer()


def run_recipe(args, model, tokenizer, rows, rec: Recorder, compiled: bool = False):
    from multiagentllm.train.collate import PackedDataset, collate_packs
    from multiagentllm.train.config import TrainConfig
    from multiagentllm.train.data import IGNORE, pack
    from multiagentllm.train.recipe import make_trainer

    cfg = TrainConfig(data="-", out="-", pack_tokens=args.max_length, max_length=args.max_length,
                      bf16=args.bf16, lora_r=16, lora_alpha=32, warmup=0, progress=False,
                      save_steps=10_000, logging_steps=1, torch_compile=compiled)
    dataset = PackedDataset(rows, pack([len(r.input_ids) for r in rows], cfg.pack_tokens, cfg.seed))

    def collate(batch):
        out = collate_packs(batch)
        rec.batches.append((out["input_ids"].numel(), int((out["labels"] != IGNORE).sum())))
        return out

    trainer = make_trainer(cfg, model, dataset, None, Path(tempfile.mkdtemp()), "cpu",
                           args.steps + RECIPE_STEPS_EXTRA, [rec.callback()], collator=collate)
    trainer.train()
    dtype = "bf16 autocast" if trainer.args.bf16 else "fp32 (bf16 slower)"
    if compiled:
        dtype += ", torch.compile"
    return {"sequence": f"packed to {args.max_length} tokens, padding-free", "dtype": dtype}


def run_baseline(args, model, tokenizer, rows, rec: Recorder):
    import torch
    from transformers import Trainer, TrainingArguments

    from multiagentllm.train.data import IGNORE

    width = max(len(r.input_ids) for r in rows) if args.pad_to == "longest" else args.max_length
    pad = tokenizer.pad_token_id

    def collate(batch):
        ids = torch.full((len(batch), width), pad)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, :len(r.input_ids)] = torch.tensor(r.input_ids)
            mask[i, :len(r.input_ids)] = 1
        labels = ids.masked_fill(mask == 0, IGNORE)  # loss on the whole (non-pad) sequence
        rec.batches.append((int(mask.sum()), sum(r.targets for r in batch)))
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    targs = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch,
                              max_steps=args.steps + 1, learning_rate=2e-4, use_cpu=True, bf16=False,
                              report_to="none", save_strategy="no", logging_steps=10_000,
                              remove_unused_columns=False, disable_tqdm=True, warmup_steps=0)
    Trainer(model=model, args=targs, train_dataset=list(rows), data_collator=collate,
            callbacks=[rec.callback()]).train()
    return {"sequence": f"{args.batch} rows padded to {width} tokens", "dtype": "fp32"}


def warmup_steps(name: str) -> int:
    """Untimed first steps: allocators and kernels warm up; a compiled model also compiles (step 1)
    and recompiles with dynamic shapes for the next pack length (step 2)."""
    return 2 if name == "compiled" else 1


RECIPE_STEPS_EXTRA = 2  # both recipe arms train steps + 2, so their LR schedules (and losses) match


def arm(args) -> dict:
    """One arm, in this process: load the model, train (steps + 1 for the baseline, steps +
    RECIPE_STEPS_EXTRA for the recipe arms), report the steps after its warm-up."""
    import torch
    from peft import LoraConfig, get_peft_model

    from multiagentllm.models.load import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer("embedded")
    model.config.use_cache = False
    rows = load_rows(args, tokenizer)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    rec = Recorder()
    if args.arm == "baseline":
        info = run_baseline(args, model, tokenizer, rows, rec)
    else:
        info = run_recipe(args, model, tokenizer, rows, rec, compiled=args.arm == "compiled")
    warm = warmup_steps(args.arm)
    timed = rec.times[warm:]
    batches = rec.batches[warm:len(rec.times)]
    seconds = sum(timed)
    tokens = sum(b[0] for b in batches)
    targets = sum(b[1] for b in batches)
    cfg = model.config
    ctx = sum(len(r.input_ids) ** 2 for r in rows) / sum(len(r.input_ids) for r in rows)
    params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    # training FLOPs per token: 6N for the matmuls plus causal attention (6 * layers * hidden * ctx)
    flops = tokens * (6 * params + 6 * cfg.num_hidden_layers * cfg.hidden_size * ctx)
    return {**info, "arm": args.arm, "steps": len(timed), "seconds": seconds, "tokens": tokens,
            "targets": targets, "tokens_per_s": tokens / seconds, "targets_per_s": targets / seconds,
            "flops_per_s": flops / seconds, "warmup_s": sum(rec.times[:warm]), "losses": rec.losses,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def matmul_peak(dtype_name: str, n: int = 2048, reps: int = 6) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="", help="a built data directory (default: fixture rows)")
    p.add_argument("--dataset", default="global")
    p.add_argument("--rows", type=int, default=48)
    p.add_argument("--steps", type=int, default=3, help="timed steps per arm (after 1 warm-up)")
    p.add_argument("--batch", type=int, default=2, help="baseline rows per step")
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--pad-to", choices=["max-length", "longest"], default="max-length",
                   help="baseline padding: to --max-length (the naive default) or the longest row")
    p.add_argument("--repeats", type=int, default=2, help="alternating runs per arm (best kept)")
    p.add_argument("--compile", action="store_true", help="also time the recipe under torch.compile")
    p.add_argument("--bf16", choices=["auto", "true", "false"], default="auto",
                   help="the recipe arms' bf16 setting (auto: where it is faster, as shipped)")
    p.add_argument("--arm", choices=["recipe", "baseline", "compiled"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.arm:
        print(json.dumps(arm(args)))
        return

    import torch

    peak = {d: matmul_peak(d) for d in ("bfloat16", "float32")}
    # Arms alternate (A B A B ...) and each keeps its best run: on a machine shared with other
    # work, load comes and goes, and alternating keeps one arm from getting all the quiet minutes.
    results: dict[str, dict] = {}
    for k in range(args.repeats):
        for name in ("recipe", "baseline", *(("compiled",) if args.compile else ())):
            cmd = [sys.executable, __file__, "--arm", name, *sys.argv[1:]]
            print(f"running {name} ({k + 1}/{args.repeats}) ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{name} arm failed:\n{proc.stderr[-4000:]}")
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {got['targets_per_s']:.1f} completion tok/s", file=sys.stderr, flush=True)
            if name not in results or got["targets_per_s"] > results[name]["targets_per_s"]:
                results[name] = got
    r, b = results["recipe"], results["baseline"]
    print(f"\nmachine: {torch.get_num_threads()} threads (shared with other work: figures are noisy); "
          f"bf16 matmul peak {peak['bfloat16'] / 1e9:.0f} GFLOP/s, fp32 {peak['float32'] / 1e9:.0f} GFLOP/s")
    print(f"rows: {args.rows} from {args.data or 'test fixtures'} ({args.dataset}), SmolLM2-135M, LoRA r=16\n")
    print(f"{'arm':9} {'sequence':36} {'dtype':18} {'compl tok/s':>11} {'all tok/s':>10} "
          f"{'MFU/bf16pk':>10} {'MFU/fp32pk':>10} {'peak MiB':>9}")
    for x in results.values():
        print(f"{x['arm']:9} {x['sequence']:36} {x['dtype']:18} {x['targets_per_s']:11.1f} "
              f"{x['tokens_per_s']:10.1f} {x['flops_per_s'] / peak['bfloat16']:10.1%} "
              f"{x['flops_per_s'] / peak['float32']:10.1%} {x['peak_rss_mib']:9.0f}")
    ratio = r["targets_per_s"] / b["targets_per_s"]
    print(f"\nspeed-up in trained completion tokens/s: {ratio:.2f}x (target >= 2.5x)")
    if "compiled" in results:
        c = results["compiled"]
        gap = max((abs(x - y) for x, y in zip(r["losses"], c["losses"])), default=float("nan"))
        print(f"torch.compile: {c['targets_per_s'] / r['targets_per_s']:.2f}x the recipe's completion tok/s; "
              f"{c['warmup_s']:.0f} s in its 2 warm-up steps (compile) against {r['warmup_s']:.0f} s in the "
              f"recipe's 1; per-step losses recipe {[round(x, 4) for x in r['losses']]}, compiled "
              f"{[round(x, 4) for x in c['losses']]} (largest difference over the steps both ran {gap:.2e})")


if __name__ == "__main__":
    main()
