"""Token masks from role grammars (`roles.grammar`) for the in-process decoders, with llguidance.

Greedy decoding needs the mask only when the model's own choice is not allowed: if the argmax
token is valid for the grammar, it is also the argmax of the masked logits. So each step first
asks the matcher whether the argmax token is valid (a sub-microsecond check) and computes the
full mask (about 0.1 ms over SmolLM2's 49,152 tokens) only when it is not. Where the model
already writes grammatical text, the constrained output is the unconstrained one, token for token.

Prompt-lookup drafts (see `decode._generate_speculative`) are cut at the first token the grammar
rejects before they are verified, and each verified position picks the masked argmax, so drafting
keeps the greedy constrained output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from multiagentllm.roles.grammar import Grammar


class GrammarError(RuntimeError):
    """A grammar llguidance cannot compile; the message says which role and why."""


class Constrainer:
    """Compiles grammars for one tokenizer and vocabulary size; `matcher(grammar)` starts one
    output. Building the llguidance tokenizer costs ~0.3 s, so one Constrainer is kept per model."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        import llguidance.hf

        self.vocab_size = vocab_size
        eos = tokenizer.eos_token_id
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos)

    def matcher(self, grammar: Grammar) -> "Matcher":
        from llguidance import LLMatcher

        m = LLMatcher(self.tokenizer, LLMatcher.grammar_from_lark(grammar.lark), log_level=0)
        if m.is_error():
            raise GrammarError(f"the {grammar.role} grammar does not compile: {m.get_error()}")
        return Matcher(m, self.vocab_size)


class Matcher:
    """The state of one constrained output: which tokens may come next."""

    def __init__(self, matcher: Any, vocab_size: int):
        self.m, self.vocab_size = matcher, vocab_size
        self.masks = 0  # full masks computed (for tests and benchmarks)

    def pick(self, logits: torch.Tensor, candidate: int | None = None) -> int:
        """The greedy token under the grammar, from one position's logits (V,); `candidate` is
        their argmax when the caller has it already."""
        tok = int(logits.argmax()) if candidate is None else candidate
        if self.m.validate_tokens([tok]) == 1:
            return tok
        allowed = self.allowed()
        if not allowed.any():  # the grammar is finished or broken: nothing but the argmax is left
            return tok
        self.masks += 1
        return int(logits.masked_fill(~allowed.to(logits.device), float("-inf")).argmax())

    def allowed(self) -> torch.Tensor:
        """A bool tensor (V,): True for the tokens the grammar allows next."""
        bits = np.frombuffer(self.m.compute_bitmask(), dtype=np.uint8)
        return torch.from_numpy(np.unpackbits(bits, bitorder="little")[: self.vocab_size].astype(bool))

    def valid_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens` the grammar accepts in a row from here."""
        return self.m.validate_tokens(tokens) if tokens else 0

    def consume(self, token: int) -> None:
        self.m.consume_token(token)

    def rollback(self, n: int) -> None:
        if n > 0:
            self.m.rollback(n)

    @property
    def done(self) -> bool:
        """The grammar is complete and allows nothing more: the output ends here."""
        return self.m.is_stopped()
