"""The one tokenization rule shared by training and the runtime, so both see the same tokens; and
the ids that end a generation (`eos_ids`).

The seed's training format writes `<s>` and `</s>` as literal text; with `split_special_tokens`
they are tokenized as text even when a tokenizer happens to know them as special tokens.  The
tokenizer's own `add_special_tokens` default stays (a BOS where the model expects one).

A serving engine (vLLM) tokenizes the prompt text itself, with the tokenizer saved beside the
model: `engine_tokenizer` gives one that applies the rule by default (`split_special_tokens` in its
tokenizer_config.json). Without it, a Llama tokenizer (TinyLlama's) reads the literal `<s>` and
`</s>` of every prompt as BOS and EOS, ids the model never saw there in training.
"""

from __future__ import annotations

from typing import Any


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` under the shared rule."""
    return list(tokenizer(text, split_special_tokens=True)["input_ids"])


def encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and their character ranges in `text`; the same ids as `encode`.

    Training uses the ranges to mark which tokens fall inside supervised spans.  Needs a fast
    (Rust-backed) tokenizer, which every model this project loads has.
    """
    enc = tokenizer(text, split_special_tokens=True, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The token ids that end a generation: the model's generation config's, its config's and the
    tokenizer's end-of-sequence ids, together."""
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def engine_tokenizer(path: Any) -> Any:
    """The tokenizer at `path`, set to split special-token strings by default, to be saved for
    engines that tokenize prompts themselves (`export.py`)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, split_special_tokens=True)
