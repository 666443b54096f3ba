"""Model resolution: embedded, local directories, hub ids; every failure says what to do."""

from __future__ import annotations

import json

import pytest

from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.models.load import NotCausalLMError, load_model_and_tokenizer, resolve_base


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A 2-layer random Llama with the embedded tokenizer, saved as a local model directory."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(resolve_base("embedded"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_embedded_resolves_to_the_cached_safetensors():
    path = resolve_base("embedded")
    assert (path / "model.safetensors").exists()
    assert json.loads((path / "config.json").read_text())["model_type"] == "llama"


def test_local_directory_loads(tiny_llama):
    model, tokenizer = load_model_and_tokenizer(str(tiny_llama))
    assert model.config.num_hidden_layers == 2
    assert tokenizer.pad_token is not None


def test_hub_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelNotFoundError, match="'TinyLlama/TinyLlama-1.1B-Chat-v1.0' is not available "
                                                 "offline.*pass its local directory"):
        resolve_base("TinyLlama/TinyLlama-1.1B-Chat-v1.0")


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        resolve_base(str(tmp_path / "missing"))


@pytest.mark.parametrize("files, message", [
    ({}, "no config.json"),
    ({"adapter_config.json": "{}"}, "is a PEFT adapter"),
    ({"config.json": json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]})},
     "is not a causal LM"),
    ({"config.json": "{oops"}, "invalid JSON"),
    ({"config.json": json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})},
     "no weights"),
])
def test_not_a_causal_lm(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(NotCausalLMError, match=message):
        resolve_base(str(tmp_path))


def test_bad_dtype(tiny_llama):
    with pytest.raises(ValueError, match="dtype 'int8'"):
        load_model_and_tokenizer(str(tiny_llama), dtype="int8")
