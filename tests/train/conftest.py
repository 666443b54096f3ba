"""Fixtures for training tests: a tiny random Llama (seconds on a CPU) and a tiny built dataset."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from multiagentllm.data import builders
from multiagentllm.io import read_trajectories, write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def build_tiny_llama(path: Path, *, hidden: int = 32, init: float = 0.2, seed: int = 0) -> Path:
    """A 2-layer random Llama with the embedded model's tokenizer, saved as a local HF dir.

    A wide initialisation (0.2, not 0.02) gives logits with some spread, so a few LoRA steps
    visibly move the loss instead of sitting at log(vocab).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from multiagentllm.models.embedded import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True, initializer_range=init,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_data(out: Path, copies: int = 4, *, distinct: bool = False) -> Path:
    """DATA/<dataset>/{train,dev}.seq.jsonl from the fixture trajectories (copied under new ids).

    With `distinct`, each copy asks its question with a different suffix, so no two packs hold
    the same tokens (a test of which rows a step saw needs that: identical packs hide it).
    """
    trajs = list(read_trajectories(FIXTURES / "trajectories.jsonl"))
    for name in builders.DATASETS:
        for split, n in (("train", copies), ("dev", 1)):
            rows = []
            for k in range(n):
                for t in trajs:
                    if distinct:
                        t = dataclasses.replace(t, instruction=f"{t.instruction} ({split} request {k})")
                    row = builders.sequence_row(t, name)
                    if row is not None:
                        rows.append({**row, "id": f"{row['id']}-{split}{k}"})
            write_jsonl(out / name / f"{split}.seq.jsonl", rows)
    (out / "stats.json").write_text(json.dumps({"prompt_version": _prompt_version()}))
    return out


def _prompt_version() -> str:
    from multiagentllm.roles.render import PROMPT_VERSION

    return PROMPT_VERSION


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return build_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def distinct_data(tmp_path_factory) -> Path:
    """16 training rows, no two alike: 8 packs of 512 tokens, each with its own tokens."""
    return build_tiny_data(tmp_path_factory.mktemp("distinct-data"), copies=8, distinct=True)


@pytest.fixture
def tiny_cfg(tiny_llama, tiny_data, tmp_path):
    """A config that trains the tiny model on the tiny data in a few seconds."""
    from multiagentllm.train.config import TrainConfig

    return TrainConfig(base=str(tiny_llama), data=str(tiny_data), out=str(tmp_path / "ckpt"),
                       max_steps=6, pack_tokens=1024, max_length=1024, learning_rate=5e-3,
                       warmup=0, logging_steps=1, save_steps=3, lora_r=4, lora_alpha=8,
                       progress=False, bf16=False)
