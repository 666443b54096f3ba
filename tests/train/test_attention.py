"""packed_sdpa: causal attention per packed row equals the block-diagonal masked attention."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from multiagentllm.train.attention import PackedAttentionError, segment_lengths, set_attention


@pytest.mark.parametrize("positions, lengths", [
    ([0, 1, 2, 3], [4]),
    ([0, 1, 0, 0, 1, 2], [2, 1, 3]),
    ([0], [1]),
    ([5, 6, 7, 0, 1], [3, 2]),        # a row that does not start at 0 (a continued sequence)
    ([0, 1, 2, 7, 8], [3, 2]),        # any jump starts a new sequence, not only a reset to 0
])
def test_segment_lengths(positions, lengths):
    assert segment_lengths(torch.tensor([positions])) == lengths


def _forward_backward(model, ids, pos, impl):
    set_attention(model, impl)
    model.zero_grad()
    logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits
    logits.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


@pytest.mark.parametrize("lengths", [[7], [5, 1, 9, 3], [1, 1, 1]])
def test_packed_rows_match_the_masked_attention_in_values_and_gradients(tiny_llama, lengths):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                             init_lora_weights=False))
    ids = torch.randint(0, 200, (1, sum(lengths)))
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    ref_logits, ref_grads = _forward_backward(model, ids, pos, "sdpa")
    logits, grads = _forward_backward(model, ids, pos, "packed_sdpa")
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-4)
    assert grads.keys() == ref_grads.keys() and len(grads) > 0
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-6, rtol=1e-4)
    if len(lengths) > 1:  # and it is not plain causal attention over the whole pack
        plain, _ = _forward_backward(model, ids, torch.arange(sum(lengths))[None], "sdpa")
        assert not torch.allclose(plain, logits, atol=1e-4)


def test_refuses_input_it_cannot_mask(tiny_llama):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    set_attention(model, "packed_sdpa")
    ids = torch.randint(0, 200, (2, 6))
    with pytest.raises(PackedAttentionError, match="one padding-free packed row.*got batch 2"):
        model(input_ids=ids, position_ids=torch.arange(6).expand(2, 6), use_cache=False)
    prefill = model(input_ids=ids[:1], use_cache=True)  # one plain sequence: accepted
    with pytest.raises(PackedAttentionError, match="no KV cache"):  # a decoding step over the cache
        model(input_ids=ids[:1, :1], cache=prefill.cache, use_cache=True)


def test_training_uses_it_and_saved_models_keep_standard_attention(tiny_cfg):
    from transformers import AutoModelForCausalLM

    from multiagentllm.train.recipe import build_model, train_stage

    model, _, _ = build_model(tiny_cfg)
    assert model.get_base_model().config._attn_implementation == "packed_sdpa"
    path = train_stage(dataclasses.replace(tiny_cfg, format="full", max_steps=2)).path
    saved = json.loads((Path(path) / "config.json").read_text())
    assert "packed_sdpa" not in json.dumps(saved)
    assert AutoModelForCausalLM.from_pretrained(path).config._attn_implementation != "packed_sdpa"


def test_same_loss_curve_as_the_masked_path(tiny_cfg):
    """Two short runs, same seed and data, differing only in attention: the same training."""
    from multiagentllm.train.recipe import train_stage

    runs = {}
    for impl in ("packed_sdpa", "sdpa"):
        cfg = dataclasses.replace(tiny_cfg, attention=impl, out=f"{tiny_cfg.out}-{impl}", max_steps=3)
        runs[impl] = [loss for _, loss in train_stage(cfg).metrics["loss_log"]]
    assert runs["packed_sdpa"] == pytest.approx(runs["sdpa"], rel=1e-3)


@pytest.mark.parametrize("name, why", [("sdpaa", "not supported"), ("flash_attention_2", "not.*installed")])
def test_an_attention_transformers_cannot_use_is_a_config_error_on_the_key(tiny_llama, name, why):
    from transformers import AutoModelForCausalLM

    from multiagentllm.train.config import ConfigError

    if name == "flash_attention_2" and importlib.util.find_spec("flash_attn"):
        pytest.skip("flash-attn is installed here")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    with pytest.raises(ConfigError, match=f"attention {name!r} cannot be used: .*{why}"):
        set_attention(model, name)
    set_attention(model, "eager")  # the model is still usable
