"""Tiny random Llama checkpoints for tests, laid out as `umi train glpft` writes them, in seconds:
a byte-level BPE tokenizer trained on a few lines, a 2-layer Llama, LoRA adapters with random
non-zero A and B (so each one changes the outputs), and the manifest that names who sits on what.

One builder for the eval, serve, backend and export tests (not a test module; `tests/` is on the
path through its conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tiny_tokenizer(folder: Path, corpus: list[str], vocab_size: int = 300) -> Any:
    """A fast tokenizer trained on `corpus`, saved to `folder`; EOS doubles as padding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus * 4, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(folder)
    return fast


def tiny_base(folder: Path, corpus: list[str], *, vocab_size: int = 300, hidden: int = 32,
              intermediate: int = 64, max_positions: int = 512) -> Any:
    """A random 2-layer Llama (seed 0) and its tokenizer saved to `folder`; returns the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer(folder, corpus, vocab_size)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.eos_token_id,
    )).save_pretrained(folder)
    return tok


def random_lora(base: Path, folder: Path, *, seed: int, rank: int = 4, alpha: int | None = None,
                dtype: Any = None) -> None:
    """A LoRA adapter on every linear layer of `base` with A and B drawn from N(0, 0.3), saved to
    `folder` (in `dtype` when given, e.g. bf16 as training saves them)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(LlamaForCausalLM.from_pretrained(base), LoraConfig(
        r=rank, lora_alpha=alpha or 2 * rank, target_modules="all-linear", init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.3)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(folder)


def write_manifest(root: Path, base: Path, roles: dict[str, str], *, stage1: str | None = "stage1_backbone") -> None:
    """ROOT/manifest.json: `roles` maps each role to what it sits on ("stage1" or "base"); each
    role's adapter is in ROOT/<role>/."""
    from multiagentllm.roles.render import PROMPT_VERSION

    manifest: dict[str, Any] = {"format": "lora", "base": str(base), "prompt_version": PROMPT_VERSION}
    if stage1:
        manifest["stage1"] = stage1
    manifest["roles"] = {r: {"path": r, "on": on} for r, on in roles.items()}
    (root / "manifest.json").write_text(json.dumps(manifest))
