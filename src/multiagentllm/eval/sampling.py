"""Seeded, stratified samples of evaluation items: `--limit N` measures every stratum (a source, a
task family), not the first N rows of one, and a rerun measures the same items."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Callable


def equal_shares(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` equally over the strata; a stratum smaller than its share gives the rest
    to the others (smallest first, so the largest strata take the remainder)."""
    shares, left = {}, min(total, sum(sizes.values()))
    order = sorted(sizes, key=lambda s: (sizes[s], s))
    for i, stratum in enumerate(order):
        shares[stratum] = min(sizes[stratum], left // (len(order) - i))
        left -= shares[stratum]
    return shares


def by_source(row: Any) -> str:
    return str(row.get("source") if isinstance(row, dict) else None)


def stratified_sample(rows: list[Any], limit: int | None, seed: int,
                      stratum: Callable[[Any], str] = by_source) -> list[Any]:
    """Equal shares of `limit` per stratum (default: the row's `source`), drawn with a seed per
    stratum, kept in file order."""
    if limit is None or limit >= len(rows):
        return list(rows)
    strata: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        strata[stratum(row)].append(i)
    shares = equal_shares({s: len(ix) for s, ix in strata.items()}, limit)
    chosen = [i for s, ix in strata.items() for i in random.Random(f"{seed}:{s}").sample(ix, shares[s])]
    return [rows[i] for i in sorted(chosen)]
