"""Greedy decoding with a KV cache, stop strings and left-padded batches.

`generate` drives a *runner* (`prefill` the prompts, then `decode` one token per row at a time).
Two runners exist: `HFRunner` calls the model's own forward (any causal LM, with or without PEFT
adapters) and `lean.LeanLlama` runs the Llama architecture with plain torch ops (much less
per-token Python overhead than `model.generate`; see benchmarks/bench_runtime.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from multiagentllm.models.backends.scripted import cut_at_stop


class Runner(Protocol):
    def prefill(self, ids: torch.Tensor, mask: torch.Tensor | None, max_len: int) -> torch.Tensor:
        """Run the prompts `ids` (B, T; `mask` True on real tokens, None when unpadded), keep
        room for `max_len` positions, return the last position's logits (B, V)."""

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row (B,) and return the next logits (B, V)."""


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids for left-padded rows: 0 at each row's first real token."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


class HFRunner:
    """Any transformers causal LM through its own forward and a `DynamicCache`."""

    def __init__(self, model: Any):
        self.model = model

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor | None, max_len: int) -> torch.Tensor:
        from transformers import DynamicCache

        self.mask = torch.ones_like(ids, dtype=torch.long) if mask is None else mask.long()
        self.pos = positions(self.mask)
        self.cache = DynamicCache(config=self.model.config)
        out = self.model(input_ids=ids, attention_mask=self.mask, position_ids=self.pos,
                         cache=self.cache, use_cache=True, logits_to_keep=1)
        self.pos = self.pos[:, -1:]
        return out.logits[:, -1].float()

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(tokens), 1)], dim=1)
        self.pos = self.pos + 1
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.pos,
                         cache=self.cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float()


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


@torch.inference_mode()
def generate(runner: Runner, tokenizer: Any, prompts: list[list[int]], *, max_new_tokens: int,
             stop: list[str], eos: set[int], pad_id: int, device: Any = "cpu") -> list[str]:
    """Greedy completions of token-id prompts; each ends at EOS, a stop string (cut off) or
    `max_new_tokens`. Rows of a batch are left-padded and masked, so a batch gives the same
    tokens as one prompt at a time (up to float rounding)."""
    if not prompts:
        return []
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.bool)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[row, width - len(p):] = True
    padded = not bool(mask.all())
    logits = runner.prefill(ids.to(device), mask.to(device) if padded else None,
                            width + max_new_tokens)
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    for t in range(max_new_tokens):
        nxt = logits.argmax(-1)
        for row, tok in enumerate(nxt.tolist()):
            if done[row]:
                continue
            if tok in eos:
                done[row] = True
                continue
            out[row].append(tok)
            if stop and _hits_stop(tokenizer.decode(out[row], skip_special_tokens=True), stop):
                done[row] = True
        if all(done) or t == max_new_tokens - 1:
            break
        logits = runner.decode(nxt)
    return [cut_at_stop(tokenizer.decode(o, skip_special_tokens=True), stop) for o in out]


def _hits_stop(text: str, stop: list[str]) -> bool:
    return any(s and s in text for s in stop)
