"""The transformers `Trainer`, plus two things the recipe needs from inside the training loop."""

from __future__ import annotations

import torch
from transformers import Trainer

from multiagentllm.train.config import TrainingError
from multiagentllm.train.data import IGNORE


class SpanTrainer(Trainer):
    """Counts the tokens it trains on (for throughput), keeps packed rows apart (no KV cache),
    and stops on a non-finite loss.

    Stopping at once matters: a NaN step poisons the weights and every checkpoint after it, and
    the error must surface before anything is published.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens = 0
        self.targets = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.tokens += int(inputs["input_ids"].numel())
            self.targets += int((inputs["labels"] != IGNORE).sum())
        # With a KV cache present transformers skips packed-sequence detection and rows would
        # attend to each other; training never needs the cache.
        inputs = {**inputs, "use_cache": False}
        out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                   num_items_in_batch=num_items_in_batch)
        loss = out[0] if return_outputs else out
        if not torch.isfinite(loss.detach()).all():
            raise TrainingError(
                f"loss became {loss.detach().float().item()} at step {self.state.global_step + 1}; "
                "lower learning_rate, turn bf16 off, or check the data (no stage folder was written)")
        return out
