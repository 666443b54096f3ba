"""Greedy decoding with a KV cache, stop strings and left-padded batches.

`generate` drives a *runner* (`prefill` the prompts, then `decode` one token per row at a time).
Two runners exist: `HFRunner` calls the model's own forward (any causal LM, with or without PEFT
adapters) and `lean.LeanLlama` runs the Llama architecture with plain torch ops (much less
per-token Python overhead than `model.generate`; see benchmarks/bench_runtime.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from multiagentllm.models.backends.constrain import CLOSING_TOKENS, Matcher
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


class NgramDrafter:
    """Prompt-lookup drafts: the tokens that followed the most recent earlier occurrence of the
    sequence's last n tokens (n = `max_ngram` down to 1). A tool agent copies a lot from its
    prompt (tool names, argument values, observation fields), so these drafts are often right."""

    def __init__(self, tokens: list[int], max_ngram: int = 3):
        self.seq: list[int] = []
        self.max_ngram = max_ngram
        self.table: list[dict[tuple[int, ...], int]] = [{} for _ in range(max_ngram + 1)]
        for t in tokens:
            self.add(t)

    def add(self, token: int) -> None:
        # Register the n-grams that end just before `token`, pointing at `token`: the current
        # suffix itself is registered only once a token follows it.
        seq = self.seq
        for n in range(1, self.max_ngram + 1):
            if len(seq) >= n:
                self.table[n][tuple(seq[len(seq) - n:])] = len(seq)
        seq.append(token)

    def draft(self, k: int) -> list[int]:
        if k <= 0:
            return []
        for n in range(min(self.max_ngram, len(self.seq)), 0, -1):
            at = self.table[n].get(tuple(self.seq[len(self.seq) - n:]))
            if at is not None:
                return self.seq[at: at + k]
        return []


@torch.inference_mode()
def generate(runner: Runner, tokenizer: Any, prompts: list[list[int]], *, max_new_tokens: int,
             stop: list[str], eos: set[int], pad_id: int, device: Any = "cpu",
             draft_tokens: int = 0, matchers: list[Matcher | None] | None = None) -> list[str]:
    """Greedy completions of token-id prompts; each ends at EOS, a stop string (cut off) or
    `max_new_tokens`. Rows of a batch are left-padded and masked, so a batch gives the same
    tokens as one prompt at a time (up to float rounding).

    `draft_tokens > 0` turns on prompt-lookup speculative decoding for a single prompt on a
    runner that can verify several tokens per forward (`extend`/`rollback`): the output is
    still the greedy one, only fewer forwards are run.

    `matchers` (one per prompt, None for a free row) constrain rows to a grammar
    (`constrain.Matcher`): each token is the greedy one among those the grammar allows, and a
    row ends as soon as its grammar is complete; a constrained row still open at
    `max_new_tokens` that its grammar cannot end there gets up to `CLOSING_TOKENS` more to
    close (`Matcher.close`)."""
    if not prompts:
        return []
    matchers = matchers or [None] * len(prompts)
    if draft_tokens > 0 and len(prompts) == 1 and hasattr(runner, "extend"):
        return [_generate_speculative(runner, tokenizer, prompts[0], max_new_tokens=max_new_tokens,
                                      stop=stop, eos=eos, device=device, draft_tokens=draft_tokens,
                                      matcher=matchers[0])]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.bool)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[row, width - len(p):] = True
    padded = not bool(mask.all())
    steps = max_new_tokens + (CLOSING_TOKENS if any(m is not None for m in matchers) else 0)
    logits = runner.prefill(ids.to(device), mask.to(device) if padded else None, width + steps)
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    for t in range(steps):
        picks = logits.argmax(-1).tolist()
        for row, tok in enumerate(picks):
            if done[row]:
                continue
            m = matchers[row]
            if m is not None:
                tok = picks[row] = m.pick(logits[row], tok) if t < max_new_tokens else m.close(logits[row])
            if tok in eos:
                done[row] = True
                continue
            out[row].append(tok)
            if m is not None:
                m.consume(tok)
            if t >= max_new_tokens - 1 and (m is None or m.finished) or (m is not None and m.done) or (
                    stop and _hits_stop(tokenizer.decode(out[row], skip_special_tokens=True), stop)):
                done[row] = True
        if all(done) or t == steps - 1:
            break
        logits = runner.decode(torch.tensor(picks, dtype=torch.long, device=logits.device))
    return [_text(tokenizer, o, stop) for o in out]


def _generate_speculative(runner: Any, tokenizer: Any, prompt: list[int], *, max_new_tokens: int,
                          stop: list[str], eos: set[int], device: Any, draft_tokens: int,
                          matcher: Matcher | None = None) -> str:
    """One greedy completion; each forward feeds the last accepted token plus up to
    `draft_tokens` prompt-lookup drafts and keeps the drafts the model itself would have chosen
    (under `matcher`'s grammar, when given: a draft token the grammar rejects ends the draft)."""
    if max_new_tokens <= 0:
        return ""
    closing = CLOSING_TOKENS if matcher is not None else 0
    logits = runner.prefill(torch.tensor([prompt], dtype=torch.long, device=device), None,
                            len(prompt) + max_new_tokens + closing)
    drafter = NgramDrafter(prompt)
    out: list[int] = []
    greedy = [_pick(logits[0], matcher)]  # tokens the model has chosen, not yet emitted
    while True:
        for i, tok in enumerate(greedy):
            if tok in eos:
                return _text(tokenizer, out, stop)
            out.append(tok)
            drafter.add(tok)
            if matcher is not None:
                matcher.consume(tok)
            if (matcher is not None and matcher.done) or (
                    stop and _hits_stop(tokenizer.decode(out, skip_special_tokens=True), stop)):
                return _text(tokenizer, out, stop)
            if len(out) >= max_new_tokens:
                runner.rollback(len(greedy) - 1 - i)  # kept drafts past this point leave the cache
                return _close(runner, tokenizer, out, matcher, stop=stop, eos=eos, device=device,
                              limit=max_new_tokens + closing)
        # The cache holds the prompt and out[:-1]; room is left for max_new_tokens in all.
        draft = drafter.draft(min(draft_tokens, max_new_tokens - len(out)))
        if matcher is not None:
            draft = draft[: matcher.valid_prefix(draft)]
        if not draft:
            greedy = [_pick(runner.decode(torch.tensor([out[-1]], device=device))[0], matcher)]
            continue
        logits = runner.extend([out[-1]] + draft)
        preds = logits.argmax(-1).tolist()
        keep = 0
        while True:  # position `keep` predicts the token after out + draft[:keep]
            tok = preds[keep] if matcher is None else matcher.pick(logits[keep], preds[keep])
            if keep < len(draft) and tok == draft[keep]:
                if matcher is not None:
                    matcher.consume(tok)  # the next position's mask follows the kept draft
                keep += 1
                continue
            break
        if matcher is not None:
            matcher.rollback(keep)  # the emit loop above consumes the kept tokens again
        runner.rollback(len(draft) - keep)
        runner.proposed += len(draft)
        runner.accepted += keep
        greedy = draft[:keep] + [tok]


def _close(runner: Any, tokenizer: Any, out: list[int], matcher: Matcher | None, *, stop: list[str],
           eos: set[int], device: Any, limit: int) -> str:
    """An output at its budget: a constrained one its grammar cannot end yet takes
    `Matcher.close` tokens, one forward each, until it can or `limit` tokens are out."""
    while matcher is not None and not matcher.finished and len(out) < limit:
        tok = matcher.close(runner.decode(torch.tensor([out[-1]], device=device))[0])
        if tok in eos:
            break
        out.append(tok)
        matcher.consume(tok)
        if stop and _hits_stop(tokenizer.decode(out, skip_special_tokens=True), stop):
            break
    return _text(tokenizer, out, stop)


def _pick(logits: torch.Tensor, matcher: Matcher | None) -> int:
    return int(logits.argmax()) if matcher is None else matcher.pick(logits)


def _text(tokenizer: Any, out: list[int], stop: list[str]) -> str:
    return cut_at_stop(tokenizer.decode(out, skip_special_tokens=True), stop)


def _hits_stop(text: str, stop: list[str]) -> bool:
    return any(s and s in text for s in stop)
