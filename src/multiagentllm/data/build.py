"""`umi data build`: public sources (+ synthetic trajectories) -> splits -> GLPFT training sets.

Output layout::

    OUT/trajectories/{train,dev,test}.jsonl        canonical trajectories, split by instruction
    OUT/items/{source}.jsonl                        single-call items (evaluation / synthesis seeds)
    OUT/catalogue/{source}.jsonl                    tool definitions
    OUT/{global,planner,caller,summarizer,single}/{train,dev,test}.seq.jsonl  multi-span rows (training reads these)
    OUT/{global,planner,caller,summarizer,single}/{train,dev,test}.jsonl      per-step rows, with step_rows=True
    OUT/stats.json                                  counts and token-length percentiles

The build writes into a new folder beside OUT and swaps it in when everything is written
(`io.atomic_dir`): OUT holds the previous build or the new one, never a mix, and a build that
was killed leaves OUT as it was.  An input that gives no record (empty, or every record bad even
with `skip_bad`) is an error, not an empty training set.

`retrieve_tools=K` renders the training rows as the runtime sees a request with more than K tools:
a trajectory offering more keeps only the K that `tools.retrieval` selects for its instruction
(always including the tools it calls).  The trajectory files keep every tool.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from multiagentllm.data import builders
from multiagentllm.data.loaders import SOURCES, CallItem, ToolSpec, get_source
from multiagentllm.data.splits import SPLITS, assign_splits
from multiagentllm.io import (
    DataError, SkipReport, atomic_dir, read_trajectories, require_records, write_json, write_jsonl,
)
from multiagentllm.models.embedded import embedded_model_dir
from multiagentllm.paths import default_data_root
from multiagentllm.roles.render import PROMPT_VERSION
from multiagentllm.tools.retrieval import retrieve
from multiagentllm.types import Trajectory

DEFAULT_SOURCES = ("toolbench", "toolbench_cot", "stabletoolbench", "apibench", "bfcl", "apibank",
                   "sealtools", "toolalpaca", "nestful", "tooltalk")
# Sources whose trajectories are answers to public *test* queries: they only ever go to `test`.
TEST_ONLY_SOURCES = {"toolbench_cot": "test"}
STEP_SAMPLE = 2000  # per-step rows whose token lengths are measured per dataset and split
OUTPUT_NAMES = {"trajectories", "items", "catalogue", "stats.json", *builders.DATASETS}


@dataclass
class BuildReport:
    out: Path
    counts: dict[str, Any] = field(default_factory=dict)
    skipped: SkipReport = field(default_factory=SkipReport)


def trajectory_fingerprint(t: Trajectory) -> str:
    body = json.dumps({"i": t.instruction, "s": [s.to_dict() for s in t.steps], "a": t.answer},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def collect(sources: list[str], data_root: Path, synthetic: list[Path], *, skip_bad: bool,
            report: SkipReport, progress: Progress | None = None,
            files: list[tuple[str, Path]] | None = None,
            ) -> tuple[list[Trajectory], dict[str, list[CallItem]], dict[str, list[ToolSpec]]]:
    """Records of the named sources (their files under `data_root`), of `files` (a source's
    loader on a file of the user's, e.g. `("sharegpt", Path("mine.json"))`) and of `synthetic`."""
    trajs: list[Trajectory] = []
    items: dict[str, list[CallItem]] = defaultdict(list)
    catalogue: dict[str, list[ToolSpec]] = defaultdict(list)
    jobs = [(name, get_source(name).files(data_root)) for name in sources]
    jobs += [(name, [Path(path)]) for name, path in files or []]
    for name, paths in jobs:
        source = get_source(name)
        if not paths and source.patterns:
            raise DataError(data_root, None, f"source {name!r}: no files match {list(source.patterns)}")
        for path in paths:
            if not path.is_file():
                raise DataError(path, None, f"source {name!r}: no such file")
        task = progress.add_task(f"load {name}", total=len(paths)) if progress else None
        fn = source.load_fn()
        read, skipped_before = 0, report.skipped
        for path in paths:
            for rec in fn(path, skip_bad=skip_bad, report=report):
                read += 1
                if isinstance(rec, Trajectory):
                    trajs.append(rec)
                elif isinstance(rec, CallItem):
                    items[name].append(rec)
                elif isinstance(rec, ToolSpec):
                    catalogue[name].append(rec)
            if progress:
                progress.advance(task)
        require_records(data_root, read, report, skipped_before, what=f"records from source {name!r}")
    for path in synthetic:
        path = path / "trajectories.jsonl" if path.is_dir() else path
        before, skipped_before = len(trajs), report.skipped
        trajs.extend(read_trajectories(path, skip_bad=skip_bad, report=report))
        require_records(path, len(trajs) - before, report, skipped_before, what="trajectories")
    return trajs, items, catalogue


def dedupe(trajs: list[Trajectory]) -> list[Trajectory]:
    seen: set[str] = set()
    out = []
    for t in trajs:
        fp = trajectory_fingerprint(t)
        if fp not in seen:
            seen.add(fp)
            out.append(t)
    return out


def narrow_tools(t: Trajectory, k: int | None) -> Trajectory:
    """`t` offering only the `k` tools retrieved for its instruction, keeping those it calls;
    `t` itself when k is None or <= 0 or it offers no more than k tools."""
    if not k or k <= 0 or len(t.tools) <= k:
        return t
    return replace(t, tools=retrieve(t.tools, t.instruction, k, keep=[c.name for c in t.calls]))


def build(out: Path, *, sources: list[str] | None = None, data_root: Path | None = None,
          synthetic: list[Path] | None = None, skip_bad: bool = False, dev: float = 0.05,
          test: float = 0.05, tokenizer: str | None = "embedded",
          retrieve_tools: int | None = None, files: list[tuple[str, Path]] | None = None,
          step_rows: bool = False) -> BuildReport:
    """Build every training set; returns counts (also written to OUT/stats.json).

    `retrieve_tools`: render rows with at most that many tools per trajectory (see `narrow_tools`).
    `step_rows`: also write the per-step `{prompt, completion}` rows (`{split}.jsonl`, for other
    trainers; training here reads the multi-span rows, and the per-step ones are O(k^2) text, about
    2.5 times their size)."""
    out = Path(out)
    data_root = Path(data_root) if data_root else default_data_root()
    sources = list(DEFAULT_SOURCES if sources is None else sources)
    unknown = [s for s in sources if s not in SOURCES] + [n for n, _ in files or [] if n not in SOURCES]
    if unknown:
        raise KeyError(f"unknown source(s) {unknown}; known: {', '.join(SOURCES)}")
    if not sources and not synthetic and not files:
        raise DataError(out, None, "nothing to build: no sources and no synthetic trajectories")
    check_replaceable(out)
    report = BuildReport(out=out)
    with Progress(transient=False) as progress, atomic_dir(out) as staging:
        trajs, items, catalogue = collect(sources, data_root, list(synthetic or []), files=files,
                                          skip_bad=skip_bad, report=report.skipped, progress=progress)
        n_loaded = len(trajs)
        trajs = dedupe(trajs)
        splits = assign_splits(trajs, dev=dev, test=test, forced=TEST_ONLY_SOURCES)
        tok = load_stats_tokenizer(tokenizer) if tokenizer else None
        row_counts: dict[str, dict[str, Any]] = defaultdict(dict)
        narrowed: dict[str, int] = {}
        token_counts: dict[str, Any] = {"tokenizer": tokenizer} if tok else {}
        task = progress.add_task("render rows", total=len(trajs) * len(builders.DATASETS))
        for split, group in splits.items():
            # a seeded shuffle: file order must not follow the instruction text, because training
            # may read only the first rows of a file
            random.Random(f"{split}-{len(group)}").shuffle(group)
            write_jsonl(staging / "trajectories" / f"{split}.jsonl", group)
            rendered = [narrow_tools(t, retrieve_tools) for t in group]
            narrowed[split] = sum(r is not t for r, t in zip(rendered, group))
            for name in builders.DATASETS:
                seq_rows = [row for t in rendered if (row := builders.sequence_row(t, name)) is not None]
                write_jsonl(staging / name / f"{split}.seq.jsonl", seq_rows)
                counts = {"seq_rows": _by_source(seq_rows)}
                tokens = {"seq": token_lengths(tok, [r["text"] for r in seq_rows])} if tok else {}
                if step_rows:
                    steps = [row for t in rendered for row in builders.STEP_ROWS[name](t)]
                    write_jsonl(staging / name / f"{split}.jsonl", steps)
                    counts = {"step_rows": _by_source(steps), **counts}
                    if tok:  # per-step rows are O(k^2) text: percentiles from a fixed sample
                        sample = steps[::max(1, len(steps) // STEP_SAMPLE)]
                        tokens = {"step": token_lengths(tok, [r["prompt"] + r["completion"] for r in sample]), **tokens}
                row_counts[name][split] = counts
                if tok:
                    token_counts.setdefault(name, {})[split] = tokens
                progress.advance(task, len(group))
        for name, recs in items.items():
            write_jsonl(staging / "items" / f"{name}.jsonl", recs)
        for name, recs in catalogue.items():
            write_jsonl(staging / "catalogue" / f"{name}.jsonl", recs)

        stats: dict[str, Any] = {
            "prompt_version": PROMPT_VERSION,
            "data_root": str(data_root),
            "sources": sources,
            "synthetic": [str(p) for p in synthetic or []],
            "files": [f"{name}={path}" for name, path in files or []],
            "trajectories_loaded": n_loaded,
            "trajectories_after_dedup": len(trajs),
            "trajectories": {s: _by_source(g) for s, g in splits.items()},
            "outcomes": {s: dict(Counter(t.outcome for t in g)) for s, g in splits.items()},
            "retrieve_tools": retrieve_tools or None,
            "step_rows": step_rows,
            "tools_narrowed": narrowed,
            "items": {k: len(v) for k, v in items.items()},
            "catalogue": {k: len(v) for k, v in catalogue.items()},
            "rows": row_counts,
            "skipped_bad": report.skipped.skipped,
            "skipped_examples": report.skipped.examples,
        }
        if tok:
            stats["tokens"] = token_counts
        write_json(staging / "stats.json", stats)
    report.counts = stats
    return report


def check_replaceable(out: Path) -> None:
    """`out` is replaced as a whole (see `multiagentllm.io.atomic_dir`): refuse a folder that
    holds anything a build does not write, rather than delete it."""
    if not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_NAMES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise DataError(out, None, f"holds {shown}, which a build does not write; the build replaces the "
                                   "whole folder, so choose a new or empty one (or remove them)")


def _by_source(records: list, key: str = "source") -> dict[str, int]:
    counts = Counter(r[key] if isinstance(r, dict) else getattr(r, key) for r in records)
    return {"total": len(records), **dict(sorted(counts.items()))}


def token_lengths(tok, texts: list[str], chunk: int = 512) -> dict[str, int]:
    """Row count, total tokens and length percentiles of `texts` (tokenized in chunks)."""
    import numpy as np

    if not texts:
        return {"rows": 0, "tokens": 0}
    lengths = np.concatenate([
        np.array([len(ids) for ids in tok(texts[i:i + chunk], split_special_tokens=True)["input_ids"]])
        for i in range(0, len(texts), chunk)])
    return {"rows": int(len(lengths)), "tokens": int(lengths.sum()),
            **{f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 99)}, "max": int(lengths.max())}


def load_stats_tokenizer(name: str):
    from transformers import AutoTokenizer

    if name == "embedded":
        return AutoTokenizer.from_pretrained(embedded_model_dir())
    return AutoTokenizer.from_pretrained(name)
