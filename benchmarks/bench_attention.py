"""Packed attention (`packed_sdpa`, causal SDPA per row) against the block-diagonal masked SDPA that
transformers builds for padding-free packs, side by side, on this machine.

    .venv/bin/python benchmarks/bench_attention.py [--data DATA] [--dataset planner] [--packs 3]
                                                   [--threads 0]

Both arms run the same training step (forward, span loss, backward) of the embedded SmolLM2-135M
with the recipe's LoRA (r=16, all linear layers) on the same real packs (DATA/<dataset>/train.seq.jsonl
packed to 2048 tokens as the recipe packs them; the repository's fixture rows when no DATA is
given).  The arms alternate pack by pack, so machine noise hits both alike.  Printed: seconds per
pack for each arm, tokens/s, the ratio, and the largest difference between the two arms' losses
(the same computation, so it must be ~0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train_throughput import fixture_data  # noqa: E402  (same fixture rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="out/data" if Path("out/data/stats.json").exists() else "")
    ap.add_argument("--dataset", default="planner")
    ap.add_argument("--packs", type=int, default=3)
    ap.add_argument("--pack-tokens", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    from multiagentllm.train.attention import set_attention
    from multiagentllm.train.collate import PackedDataset, collate_packs
    from multiagentllm.train.config import TrainConfig
    from multiagentllm.train.data import load_split, pack
    from multiagentllm.train.recipe import build_model
    from multiagentllm.train.trainer import SpanTrainer

    if args.threads:
        torch.set_num_threads(args.threads)
    data = Path(args.data) if args.data else fixture_data(Path(tempfile.mkdtemp()))
    cfg = TrainConfig(data=str(data), out=tempfile.mkdtemp(), dataset=args.dataset)
    model, tokenizer, _ = build_model(cfg)
    model.train()
    rows, _ = load_split(tokenizer, data, args.dataset, "train", max_length=args.pack_tokens, limit=400)
    packs = PackedDataset(rows, pack([len(e.input_ids) for e in rows], args.pack_tokens, 0))
    loss_step = SpanTrainer.compute_loss

    class Shim:  # what compute_loss reads from the trainer
        args = type("A", (), {"average_tokens_across_devices": False})()
        state = type("S", (), {"global_step": 0})()
        tokens = targets = 0

    def step(batch) -> tuple[float, float]:
        model.zero_grad(set_to_none=True)
        started = time.perf_counter()
        loss = loss_step(Shim(), model, batch)
        loss.backward()
        return time.perf_counter() - started, float(loss.detach())

    order = sorted(range(len(packs)), key=lambda i: -sum(len(e.input_ids) for e in packs[i]))
    chosen = order[: args.packs]
    step(collate_packs([packs[chosen[-1]]]))  # warm-up
    seconds = {"packed_sdpa": 0.0, "sdpa": 0.0}
    tokens, diff = 0, 0.0
    for i in chosen:
        batch = collate_packs([packs[i]])
        tokens += batch["input_ids"].shape[1]
        rows_in = len(packs[i])
        losses = {}
        for impl in ("packed_sdpa", "sdpa"):
            set_attention(model, impl)
            dt, losses[impl] = step(batch)
            seconds[impl] += dt
        diff = max(diff, abs(losses["packed_sdpa"] - losses["sdpa"]))
        print(f"pack {i}: {batch['input_ids'].shape[1]} tokens, {rows_in} rows: "
              f"packed_sdpa {seconds['packed_sdpa']:.1f}s, sdpa {seconds['sdpa']:.1f}s (cumulative)", flush=True)
    n = len(chosen)
    print(f"\n{args.dataset} packs of <= {args.pack_tokens} tokens, {n} packs, {torch.get_num_threads()} threads")
    print(f"packed_sdpa (project): {seconds['packed_sdpa'] / n:.2f} s/pack, {tokens / seconds['packed_sdpa']:.1f} tok/s")
    print(f"sdpa + block mask (transformers default for packs): {seconds['sdpa'] / n:.2f} s/pack, "
          f"{tokens / seconds['sdpa']:.1f} tok/s")
    print(f"ratio: {seconds['sdpa'] / seconds['packed_sdpa']:.2f}x; largest loss difference {diff:.2e}")


if __name__ == "__main__":
    main()
