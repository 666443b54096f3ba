"""Token masks from role grammars (`roles.grammar`) for the in-process decoders, with llguidance.

Greedy decoding needs the mask only when the model's own choice is not allowed: if the argmax
token is valid for the grammar, it is also the argmax of the masked logits. So each step first
asks the matcher whether the argmax token is valid (a sub-microsecond check) and computes the
full mask (about 0.1 ms over SmolLM2's 49,152 tokens) only when it is not. Where the model
already writes grammatical text, the constrained output is the unconstrained one, token for token.

Prompt-lookup drafts (see `decode._generate_speculative`) are cut at the first token the grammar
rejects before they are verified, and each verified position picks the masked argmax, so drafting
keeps the greedy constrained output.

A grammar bounds each string and list, but not the tokens they take together: a caller repeating
itself inside a 200-character string, or in a list of 16 items, can reach its token budget before
the JSON closes. So an output its grammar cannot end when its budget runs out gets up to
`CLOSING_TOKENS` more, picked by `Matcher.close`: among the tokens the grammar allows, the best
one that only closes (quotes, brackets, braces, a newline), else the model's best. Outputs that
end within their budget are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from multiagentllm.roles.grammar import Grammar


CLOSING_TOKENS = 32  # tokens past the budget an unfinished constrained output may take to close
_BRACKETS = set("}] ")
_CLOSING_CHARS = _BRACKETS


class GrammarError(RuntimeError):
    """A grammar llguidance cannot compile; the message says which role and why."""


class Constrainer:
    """Compiles grammars for one tokenizer and vocabulary size; `matcher(grammar)` starts one
    output. Building the llguidance tokenizer costs ~0.3 s, so one Constrainer is kept per model."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        import llguidance.hf

        self.vocab_size = vocab_size
        eos = tokenizer.eos_token_id
        self.hf_tokenizer = tokenizer
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos)
        self._closing: Closing | None = None

    def closing(self) -> "Closing":
        """The token classes `Matcher.close` prefers (built on first use, ~1 s for 49k tokens)."""
        if self._closing is None:
            self._closing = Closing(self.hf_tokenizer, self.vocab_size)
        return self._closing

    def matcher(self, grammar: Grammar) -> "Matcher":
        from llguidance import LLMatcher

        m = LLMatcher(self.tokenizer, LLMatcher.grammar_from_lark(grammar.lark), log_level=0)
        if m.is_error():
            raise GrammarError(f"the {grammar.role} grammar does not compile: {m.get_error()}")
        return Matcher(m, self.vocab_size, self.closing)


class Closing:
    """Each token's text, and the tokens that only close: inside a JSON string, those that end
    it (a quote, then only brackets and braces); outside, only brackets and braces; last, a newline
    (which ends a planner's rationale line)."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        known = min(vocab_size, len(tokenizer))
        self.texts = tokenizer.batch_decode([[i] for i in range(known)]) + [""] * (vocab_size - known)
        self.string_end = torch.tensor([t[:1] == '"' and set(t[1:]) <= _CLOSING_CHARS for t in self.texts])
        self.brackets = torch.tensor([bool(t.strip(" ")) and set(t) <= _BRACKETS for t in self.texts])
        self.newline = torch.tensor([t == "\n" for t in self.texts])


def in_string(inside: bool, text: str) -> bool:
    """Whether JSON text that started inside (or outside) a string ends inside one."""
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif inside and ch == "\\":
            escaped = True
        elif ch == '"':
            inside = not inside
    return inside


class Matcher:
    """The state of one constrained output: which tokens may come next."""

    def __init__(self, matcher: Any, vocab_size: int, closing: Any = None):
        self.m, self.vocab_size, self._closing = matcher, vocab_size, closing
        self.masks = 0  # full masks computed (for tests and benchmarks)
        self.closed = 0  # tokens picked by `close` (past the output's budget)
        self._inside: list[bool] = [False]  # in a JSON string after each consumed token (for `close`)

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

    def close(self, logits: torch.Tensor) -> int:
        """Past the budget: the best allowed token that closes (see `Closing`), else the best
        allowed one."""
        allowed = self.allowed()
        self.closed += 1
        if self._closing is not None:
            c = self._closing()
            for kind in ([c.string_end] if self._inside[-1] else [c.brackets]) + [c.newline]:
                if (allowed & kind).any():
                    allowed = allowed & kind
                    break
        if not allowed.any():
            return int(logits.argmax())
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
        if self._closing is not None:
            self._inside.append(in_string(self._inside[-1], self._closing().texts[token]))

    def rollback(self, n: int) -> None:
        if n > 0:
            self.m.rollback(n)
            if self._closing is not None:
                del self._inside[-n:]

    @property
    def finished(self) -> bool:
        """The output may end here (the grammar accepts it, or allows nothing more)."""
        return self.m.is_accepting() or self.m.is_stopped()

    @property
    def done(self) -> bool:
        """The grammar is complete and allows nothing more: the output ends here."""
        return self.m.is_stopped()
