"""Padding-free batches are exact: rows flattened into one sequence do not attend to each other."""

from __future__ import annotations

import pytest
import torch

from multiagentllm.train.collate import collate_packs, flatten
from multiagentllm.train.data import IGNORE, Example


def rows(vocab: int) -> list[Example]:
    g = torch.Generator().manual_seed(0)
    out = []
    for n in (7, 12, 5):
        ids = torch.randint(0, vocab, (n,), generator=g).tolist()
        labels = [IGNORE] * (n // 2) + ids[n // 2:]
        out.append(Example(ids, labels))
    return out


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_loss_equals_sum_of_row_losses(tiny_llama, attn):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation=attn).eval()
    model.config.use_cache = False  # as in training: with a KV cache, packing is not detected
    examples = rows(model.config.vocab_size)
    with torch.no_grad():
        per_row = []
        for e in examples:
            batch = flatten([e])
            n = int((batch["labels"][0, 1:] != IGNORE).sum())
            per_row.append(model(**batch).loss * n)
        batch = collate_packs([examples[:2], examples[2:]])
        n_packed = int((batch["labels"][0, 1:] != IGNORE).sum())
        packed = model(**batch).loss * n_packed
        # the same rows concatenated *without* position resets would attend across rows
        leaky = dict(batch, position_ids=torch.arange(batch["input_ids"].shape[1])[None])
        leaky_loss = model(**leaky).loss * n_packed
    assert "attention_mask" not in batch
    assert torch.allclose(packed, torch.stack(per_row).sum(), rtol=1e-5, atol=1e-4)
    assert not torch.allclose(leaky_loss, packed, rtol=1e-4, atol=1e-3)


def test_flatten_resets_positions_and_masks_row_starts():
    a = Example([1, 2, 3], [1, 2, 3])
    b = Example([4, 5], [4, 5])
    batch = flatten([a, b])
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5]]
    assert batch["input_ids"].shape == (1, 5)


def test_trainer_loss_equals_the_models_own_loss(tiny_llama, tmp_path):
    """The head-on-targets-only loss is the same number as the model's full-logits loss."""
    from transformers import AutoModelForCausalLM, TrainingArguments

    from multiagentllm.train.trainer import SpanTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model.config.use_cache = False
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = SpanTrainer(model=model, args=args)
    batch = collate_packs([rows(model.config.vocab_size)])
    with torch.no_grad():
        ours = trainer.compute_loss(model, batch)
        reference = model(**batch).loss
        n = int((batch["labels"][0, 1:] != IGNORE).sum())
        summed = trainer.compute_loss(model, batch, num_items_in_batch=torch.tensor(2 * n))
    assert torch.allclose(ours, reference, rtol=1e-5)
    assert torch.allclose(summed, reference / 2, rtol=1e-5)
