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


def gguf_template(path: Path, base: Path) -> Path:
    """A GGUF holding only the metadata of the tiny base at `base` (hyper-parameters and its BPE
    vocabulary), the template `umi export gguf --base-gguf` takes; the embedded model's own GGUF
    plays this part in real use."""
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    from multiagentllm.models.gguf import rope_theta

    config = AutoConfig.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(len(vocab))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([t for t, _ in vocab])
    writer.add_token_types([gguf.TokenType.CONTROL if t in tok.all_special_tokens else gguf.TokenType.NORMAL
                            for t, _ in vocab])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_eos_token_id(tok.eos_token_id)
    writer.add_bos_token_id(tok.eos_token_id)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
