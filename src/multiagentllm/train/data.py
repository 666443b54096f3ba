"""Training rows -> token ids with labels on the supervised spans only, packed without padding.

Reads the multi-span rows `{"text", "spans": [[start, end], ...]}` (`{split}.seq.jsonl`) written by
`data/builders.py`, or the per-step rows `{"prompt", "completion"}` (`{split}.jsonl`, the
completion is the one span).  The full text is tokenized once, under the shared rule
(`models.tokens`), and a token is supervised when it starts inside a span; an EOS is appended and
supervised, so a model learns to stop.  Everything else (system prompt, tools, observations) gets
label -100.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.io import DataError, read_records
from multiagentllm.models.tokens import encode_with_offsets
from multiagentllm.paths import portable

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    @property
    def targets(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class SplitStats:
    path: str = ""
    rows: int = 0
    tokens: int = 0
    target_tokens: int = 0
    truncated: int = 0
    dropped: int = 0  # rows left with no supervised token after truncation
    lengths: list[int] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        lengths = sorted(self.lengths) or [0]
        pct = {f"p{p}": lengths[min(len(lengths) - 1, int(len(lengths) * p / 100))]
               for p in (50, 90, 99)}
        return {"path": portable(self.path), "rows": self.rows, "tokens": self.tokens,
                "target_tokens": self.target_tokens, "truncated": self.truncated,
                "dropped": self.dropped, "length": {**pct, "max": lengths[-1]}}


def split_file(data_dir: str | Path, dataset: str, split: str) -> Path:
    """`DATA/<dataset>/<split>.seq.jsonl`, else the per-step `<split>.jsonl`; a clear error if neither."""
    folder = Path(data_dir) / dataset
    for name in (f"{split}.seq.jsonl", f"{split}.jsonl"):
        if (folder / name).exists():
            return folder / name
    raise DataError(folder / f"{split}.seq.jsonl", None,
                    f"no {split} data for dataset {dataset!r} (neither {split}.seq.jsonl nor "
                    f"{split}.jsonl in {folder}); build it with `umi data build --out {data_dir}`")


def parse_row(obj: Any) -> tuple[str, list[tuple[int, int]]]:
    """A row as (text, spans); ValueError says what is wrong (read_records adds file:line)."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "text" in obj:
        text, spans = obj["text"], obj.get("spans")
        if not isinstance(text, str) or not text:
            raise ValueError("'text' must be a non-empty string")
        if not isinstance(spans, list) or not spans:
            raise ValueError("'spans' must be a non-empty list of [start, end] pairs")
        out, last = [], 0
        for span in spans:
            if (not isinstance(span, (list, tuple)) or len(span) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)):
                raise ValueError(f"span {span!r} is not a [start, end] pair of integers")
            start, end = span
            if not (last <= start < end <= len(text)):
                raise ValueError(f"span {span!r} is out of order or outside the text "
                                 f"(length {len(text)}); spans must be sorted and disjoint")
            out.append((start, end))
            last = end
        return text, out
    if "prompt" in obj and "completion" in obj:
        prompt, completion = obj["prompt"], obj["completion"]
        if not isinstance(prompt, str) or not isinstance(completion, str) or not completion:
            raise ValueError("'prompt' must be a string and 'completion' a non-empty string")
        return prompt + completion, [(len(prompt), len(prompt) + len(completion))]
    raise ValueError(f"expected keys {{text, spans}} or {{prompt, completion}}, got {sorted(obj)}")


def label_tokens(ids: Sequence[int], offsets: Sequence[tuple[int, int]],
                 spans: Sequence[tuple[int, int]]) -> list[int]:
    """Label of each token: its id when the token starts inside a span, else IGNORE."""
    labels, k = [], 0
    for tok, (start, end) in zip(ids, offsets):
        while k < len(spans) and start >= spans[k][1]:
            k += 1
        inside = k < len(spans) and spans[k][0] <= start < spans[k][1] and end > start
        labels.append(tok if inside else IGNORE)
    return labels


def tokenize(tokenizer: Any, text: str, spans: Sequence[tuple[int, int]],
             max_length: int) -> tuple[Example, bool]:
    """One row -> Example (EOS appended and supervised); also whether it was truncated."""
    ids, offsets = encode_with_offsets(tokenizer, text)
    labels = label_tokens(ids, offsets, spans)
    eos = tokenizer.eos_token_id
    if eos is not None:
        ids, labels = ids + [eos], labels + [eos]
    truncated = len(ids) > max_length
    return Example(ids[:max_length], labels[:max_length]), truncated


def load_split(tokenizer: Any, data_dir: str | Path, dataset: str, split: str, *,
               max_length: int, limit: int = 0, required: bool = True) -> tuple[list[Example], SplitStats]:
    """Read and tokenize one split; missing/empty data is an error when `required`."""
    try:
        path = split_file(data_dir, dataset, split)
    except DataError:
        if required:
            raise
        return [], SplitStats()
    stats = SplitStats(path=str(path))
    examples = []
    for text, spans in read_records(path, parse_row):
        if limit and stats.rows >= limit:
            break
        stats.rows += 1
        example, cut = tokenize(tokenizer, text, spans, max_length)
        stats.truncated += cut
        if example.targets == 0:
            stats.dropped += 1
            continue
        examples.append(example)
        stats.tokens += len(example.input_ids)
        stats.target_tokens += example.targets
        stats.lengths.append(len(example.input_ids))
    if not examples and required:
        why = "has no rows" if stats.rows == 0 else "has no row with a supervised token"
        raise DataError(path, None, f"the {split} split {why}")
    return examples, stats


def pack(lengths: Sequence[int], capacity: int, seed: int) -> list[list[int]]:
    """Group row indices into packs of at most `capacity` tokens (best-fit decreasing).

    Ties are broken by a seeded shuffle, so the packs are the same on every run (needed for an
    exact resume) while rows of the same length still mix across packs.
    """
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: -lengths[i])
    packs: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, pack index), sorted
    for i in order:
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"row of {n} tokens exceeds the pack size {capacity}")
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            room, p = free.pop(at)
            packs[p].append(i)
        else:
            room, p = capacity, len(packs)
            packs.append([i])
        bisect.insort(free, (room - n, p))
    return packs


def file_hash(paths: Sequence[str | Path]) -> str:
    """sha256 over the data files a stage read, recorded so a checkpoint names its data."""
    h = hashlib.sha256()
    for p in paths:
        if p:
            h.update(Path(p).name.encode())
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return "sha256:" + h.hexdigest()
