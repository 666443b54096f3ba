"""The transformers `Trainer`, with the loss computed the way span-supervised packed rows allow."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import Trainer

from multiagentllm.train.config import TrainingError
from multiagentllm.train.data import IGNORE


class SpanTrainer(Trainer):
    """Three changes to the stock loss step, each for a reason:

    * the LM head runs only at positions whose next token is supervised (`logits_to_keep`): with a
      49k vocabulary the head is a fifth of the model's FLOPs, and most positions (system prompt,
      tools, observations) are never trained on;
    * no KV cache (with one, transformers skips the packed-sequence detection and rows would
      attend to each other);
    * a non-finite loss stops training at once, before it poisons weights and checkpoints;
    * a checkpoint without optimizer state (a portable resume point, `resume_point.py`) still
      restores the LR schedule: the stock Trainer loads the schedule only together with AdamW.
    It also counts the tokens it trains on, for throughput figures.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens = 0
        self.targets = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        if labels.shape[0] != 1:
            raise TrainingError("SpanTrainer expects flattened, padding-free batches (collate_packs)")
        targets = labels[0, 1:]  # position i predicts token i + 1
        keep = (targets != IGNORE).nonzero().squeeze(-1)
        if model.training:
            self.tokens += int(labels.numel())
            self.targets += int(keep.numel())
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        outputs = model(**model_inputs, use_cache=False, logits_to_keep=keep)
        total = F.cross_entropy(outputs.logits[0].float(), targets[keep], reduction="sum")
        # Normalised over the whole accumulated batch when the Trainer counted it (then it must not
        # divide by the accumulation steps again), else a per-batch mean.
        self.loss_is_scaled_for_ga = num_items_in_batch is not None
        loss = total / (num_items_in_batch if num_items_in_batch is not None else max(1, keep.numel()))
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # the count above was summed over devices
        if not torch.isfinite(loss.detach()).all():
            raise TrainingError(
                f"loss became {loss.detach().float().item()} at step {self.state.global_step + 1}; "
                "lower learning_rate, turn bf16 off, or check the data (no stage folder was written)")
        return (loss, outputs) if return_outputs else loss

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None or self.is_deepspeed_enabled:
            return
        folder = Path(checkpoint)
        if not any(folder.glob("optimizer.*")) and (folder / "scheduler.pt").is_file():
            self.lr_scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
            # the optimizer's groups still hold the schedule's first LR until its next step
            for group, lr in zip(self.optimizer.param_groups, self.lr_scheduler.get_last_lr()):
                group["lr"] = lr
