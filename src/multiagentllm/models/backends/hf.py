"""In-process transformers backend: each role is (a model, the name of its adapter or None).

Several roles may share one PEFT model with one LoRA adapter each; `complete` activates the
role's adapter (`set_adapter`) before decoding, so the trio costs about the memory of one model.
Roles may as well hold separate models (full fine-tunes, or `load_llm(..., separate=True)`).

The decoding modules (`decode`, `lean`, `constrain`) load torch: +1.7 s on import (python -X
importtime). They are imported inside the methods that decode, because this module is imported by
`load_llm`'s module and so by every `umi` command, most of which never decode on torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multiagentllm.models.tokens import encode, eos_ids

DRAFT_TOKENS = 8  # prompt-lookup drafts verified per forward (see decode.generate)


@dataclass
class RoleModel:
    model: Any
    adapter: str | None = None


class HFBackend:
    """`LLM` over transformers models. `lean=True` uses the lean Llama runner where it applies
    (see `lean.py`), the model's own forward elsewhere; `batch_size` caps rows per forward;
    `draft_tokens` > 0 lets the lean runner verify that many prompt-lookup draft tokens per
    forward on single prompts (same greedy output, fewer forwards; 0 turns it off)."""

    def __init__(self, tokenizer: Any, roles: dict[str, RoleModel], *, lean: bool = True,
                 batch_size: int = 8, source: str = "", draft_tokens: int = DRAFT_TOKENS):
        if not roles:
            raise ValueError("HFBackend needs at least one role")
        if draft_tokens < 0:
            raise ValueError(f"draft_tokens must be >= 0, got {draft_tokens}")
        self.tokenizer, self.roles = tokenizer, roles
        self.lean, self.batch_size, self.source = lean, batch_size, source
        self.draft_tokens = draft_tokens
        self._runners: dict[int, Any] = {}
        self._constrainer: Any = None
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def role(self, role: str) -> RoleModel:
        if role not in self.roles:
            where = f" in {self.source}" if self.source else ""
            raise KeyError(f"no {role!r} model{where} (available roles: {', '.join(sorted(self.roles))})")
        return self.roles[role]

    def runner(self, model: Any) -> Any:
        from multiagentllm.models.backends.decode import HFRunner  # torch: see the module docstring
        from multiagentllm.models.backends.lean import LeanLlama, unsupported_reason

        key = id(model)
        if key not in self._runners:
            use_lean = self.lean and unsupported_reason(model) is None
            self._runners[key] = LeanLlama(model) if use_lean else HFRunner(model)
        return self._runners[key]

    constrains = True  # `complete` takes grammars (see roles.grammar)

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        """`constraint`: a `roles.grammar.Grammar` for every prompt, or a list with one (or None)
        per prompt."""
        from multiagentllm.models.backends.decode import generate  # torch: see the module docstring

        entry = self.role(role)
        if entry.adapter is not None:
            entry.model.set_adapter(entry.adapter)
        runner = self.runner(entry.model)
        device = next(entry.model.parameters()).device
        eos = eos_ids(entry.model, self.tokenizer)
        encoded = [encode(self.tokenizer, p) for p in prompts]
        grammars = constraint if isinstance(constraint, list) else [constraint] * len(prompts)
        if len(grammars) != len(prompts):
            raise ValueError(f"{len(grammars)} constraints for {len(prompts)} prompts")
        # Batch prompts of similar length together (less padding), then restore the order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[str] = [""] * len(encoded)
        for i in range(0, len(order), self.batch_size):
            rows = order[i: i + self.batch_size]
            matchers = [self.matcher(entry.model, grammars[r]) for r in rows]
            texts = generate(runner, self.tokenizer, [encoded[r] for r in rows],
                             max_new_tokens=max_new_tokens, stop=stop, eos=eos, pad_id=self.pad_id,
                             device=device, draft_tokens=self.draft_tokens, matchers=matchers)
            for r, text in zip(rows, texts):
                out[r] = text
        return out

    def matcher(self, model: Any, grammar: Any) -> Any:
        """A fresh grammar state for one output of `model` (None for an unconstrained one)."""
        if grammar is None:
            return None
        if self._constrainer is None:
            from multiagentllm.models.backends.constrain import Constrainer  # torch: see the module docstring

            vocab = model.get_output_embeddings().weight.shape[0]
            self._constrainer = Constrainer(self.tokenizer, vocab)
        return self._constrainer.matcher(grammar)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))
