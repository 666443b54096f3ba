"""Shared fixtures for the evaluation tests: the shared-data root and a scripted LLM."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(os.environ.get("UMI_DATA_ROOT", Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"))
GORILLA = DATA / "gorilla"
BFCL = GORILLA / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
needs_data = pytest.mark.skipif(not GORILLA.exists(), reason="shared datasets not available")


class ScriptedLLM:
    """Answers each prompt with `respond(role, prompt)`; records every call (batch sizes too)."""

    def __init__(self, respond: Callable[[str, str], str]):
        self.respond = respond
        self.calls: list[tuple[str, int]] = []
        self.prompts: list[tuple[str, str]] = []

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int, stop: list[str]) -> list[str]:
        assert max_new_tokens > 0 and isinstance(stop, list)
        self.calls.append((role, len(prompts)))
        self.prompts.extend((role, p) for p in prompts)
        return [self.respond(role, p) for p in prompts]


@pytest.fixture
def scripted():
    return ScriptedLLM


TINY_CORPUS = ["<s> add 2 and 3 </s>\nRationale: I need the add tool.\nNext: Caller\n",
               'Action: add\nAction Input: {"a": 2, "b": 3}\nObservation: 5\n', "Answer:\nThe result is 5."]


def build_tiny_checkpoint(root: Path, roles: tuple[str, ...] = ("planner", "caller", "summarizer", "single")) -> Path:
    """ROOT/ as `umi train glpft` lays it out, in seconds: a tiny random Llama base (with a
    tokenizer), a stage-1 adapter, the given role adapters, and manifest.json."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from multiagentllm.roles.render import PROMPT_VERSION

    base = root / "base"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TINY_CORPUS * 4, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(base)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(base)
    for seed, name in enumerate(("stage1_backbone", *roles), 1):
        torch.manual_seed(seed)
        model = get_peft_model(LlamaForCausalLM.from_pretrained(base), LoraConfig(
            r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
        with torch.no_grad():
            for param_name, p in model.named_parameters():
                if "lora_" in param_name:
                    p.normal_(0, 0.3)
        model.save_pretrained(root / name)
    entries = {r: {"path": r, "on": "base" if r == "single" else "stage1"} for r in roles}
    (root / "manifest.json").write_text(json.dumps({
        "format": "lora", "base": str(base), "prompt_version": PROMPT_VERSION,
        "stage1": "stage1_backbone", "roles": entries}))
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-ckpt"))


def synth_test_tasks(n: int = 2) -> list[dict]:
    """`n` held-out synthesized tasks (meta.split == "test"), as `umi data synth` writes them."""
    from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction

    result, test_families = ChunkResult(), [f for f in families() if f.split == "test"]
    index = 0
    while len([r for r in result.trajectories if r["meta"].get("variant") == 0]) < n:
        play_instruction(0, index, test_families, result)
        index += 1
    return [r for r in result.trajectories if r["meta"].get("variant") == 0][:n]
