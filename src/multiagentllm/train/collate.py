"""Padding-free batches: every row of a batch flattened into one sequence, positions reset per row.

With no attention mask and `position_ids` that restart at 0 for each row, transformers' masking
code (`find_packed_sequence_indices`) builds a block-diagonal causal mask for the eager and SDPA
attention paths, and flash-attention takes the same input as varlen; rows never attend to each
other, and no compute is spent on padding.  (The model must run with `use_cache=False`: with a
cache, transformers skips the packed-sequence detection.)  The first label of every row is masked so the last
token of one row is never trained to predict the first token of the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multiagentllm.train.data import IGNORE, Example


class PackedDataset:
    """Item i is pack i: the list of examples that fill one sequence of at most `pack_tokens`."""

    def __init__(self, examples: Sequence[Example], packs: Sequence[Sequence[int]]):
        self.examples, self.packs = examples, packs

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, i: int) -> list[Example]:
        return [self.examples[j] for j in self.packs[i]]

    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


def flatten(rows: Sequence[Example]) -> dict[str, Any]:
    """Rows -> {input_ids, labels, position_ids}, each a (1, total_tokens) tensor."""
    import torch

    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for row in rows:
        ids += row.input_ids
        labels += [IGNORE] + row.labels[1:]
        positions += range(len(row.input_ids))
    return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions])}


def collate_packs(batch: Sequence[list[Example]]) -> dict[str, Any]:
    """The Trainer's data collator: a batch of packs becomes one padding-free row."""
    return flatten([row for pack in batch for row in pack])
