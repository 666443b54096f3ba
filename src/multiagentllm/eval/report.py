"""Evaluation reports: the JSON with every figure, a Markdown table, a PNG chart; and `compare`,
which puts several runs side by side (alpha-UMi, the single-LLM baseline, the untrained base).

A run's report is one JSON object: `benchmark`, `system`, the headline figures (`plan_acc`,
`act_em`, `hallu`, `arg_f1`, `rouge_l`, `accuracy`, `hallucination`, `pass_rate`, each a
fraction in [0, 1], or null when not measured), `groups` with the same figures per test group,
`n`, and the counts of bad input items.  Its per-item records go to `<out stem>.items.jsonl`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from multiagentllm.io import atomic_open, write_json, write_jsonl
from multiagentllm.paths import portable

FIGURES = ("plan_acc", "act_em", "hallu", "arg_f1", "rouge_l", "accuracy", "hallucination", "pass_rate")
LABELS = {"plan_acc": "Plan ACC", "act_em": "Act. EM", "hallu": "Hallu", "arg_f1": "Arg. F1",
          "rouge_l": "R-L", "accuracy": "Accuracy", "hallucination": "Halluc.", "pass_rate": "Pass rate"}


def figures(report: dict[str, Any]) -> list[str]:
    return [f for f in FIGURES if f in report]


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal; '–' when not measured."""
    return "–" if value is None else f"{100 * value:.1f}"


def markdown(report: dict[str, Any]) -> str:
    """One run: the overall row and one row per group, figures in percent."""
    cols = figures(report)
    head = f"### {report.get('benchmark', 'eval')} — {report.get('system', '?')}\n\n"
    lines = ["| group | n | " + " | ".join(LABELS[c] for c in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    rows = [("all", report)] + sorted((report.get("groups") or {}).items())
    for name, r in rows:
        lines.append(f"| {name} | {r.get('n', '')} | " + " | ".join(pct(r.get(c)) for c in cols) + " |")
    tail = f"\n\nBad input items (reported, not scored): {report.get('bad_items', 0)}"
    rules = report.get("read_rules") or {}
    if rules:
        tail += "\n\nRecords read by a loader rule: " + ", ".join(
            f"{rule} {r['records']} of {report.get('n', '?')} ({r['turns']} turns)" for rule, r in rules.items())
    return head + "\n".join(lines) + tail + "\n"


def compare_markdown(runs: list[dict[str, Any]]) -> str:
    """Several runs side by side: one row per (benchmark, system)."""
    cols = [f for f in FIGURES if any(f in r for r in runs)]
    lines = ["| benchmark | system | n | " + " | ".join(LABELS[c] for c in cols) + " |",
             "|---|---|---:|" + "---:|" * len(cols)]
    for r in runs:
        lines.append(f"| {r.get('benchmark', '?')} | {r.get('system', '?')} | {r.get('n', '')} | "
                     + " | ".join(pct(r.get(c)) if c in r else "" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def chart(runs: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Grouped bars: one group per (benchmark, figure), one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [(r.get("benchmark", "?"), f) for r in runs for f in figures(r)]
    keys = list(dict.fromkeys(keys))
    systems = list(dict.fromkeys(r.get("system", "?") for r in runs))
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) * max(1, len(systems)) ** 0.5 + 2), 4))
    for s, system in enumerate(systems):
        values = []
        for bench, fig_name in keys:
            match = [r for r in runs if r.get("system", "?") == system and r.get("benchmark", "?") == bench]
            value = match[0].get(fig_name) if match else None
            values.append(100 * value if value is not None else 0.0)
        ax.bar([k + s * width for k in range(len(keys))], values, width, label=system)
    ax.set_xticks([k + width * (len(systems) - 1) / 2 for k in range(len(keys))])
    ax.set_xticklabels([f"{b}\n{LABELS[f]}" for b, f in keys], fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def write_report(report: dict[str, Any], records: list[dict[str, Any]], out: str | os.PathLike) -> dict[str, Path]:
    """Write `out` (JSON), `<stem>.md`, `<stem>.png` and `<stem>.items.jsonl`; return the paths."""
    out = Path(out)
    report = {**report, **{k: portable(v) for k, v in report.items() if k in ("checkpoint", "data_root")
                           and isinstance(v, str)}}
    if isinstance(report.get("data"), list):
        report["data"] = [portable(p) if isinstance(p, str) else p for p in report["data"]]
    paths = {"json": out, "markdown": out.with_suffix(".md"), "chart": out.with_suffix(".png"),
             "items": out.with_name(out.stem + ".items.jsonl")}
    write_json(out, report)
    with atomic_open(paths["markdown"]) as f:
        f.write(markdown(report))
    chart([report], paths["chart"])
    write_jsonl(paths["items"], records)
    return paths


def load_run(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such report") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a JSON report ({e.msg})") from None
    if not isinstance(run, dict) or "benchmark" not in run:
        raise ValueError(f"{path}: not an evaluation report (no 'benchmark' key)")
    return run


def compare(paths: list[str | os.PathLike], out: str | os.PathLike | None = None) -> str:
    """Side-by-side table of several runs; with `out`, also write `<out>.md` and `<out>.png`."""
    runs = [load_run(p) for p in paths]
    table = compare_markdown(runs)
    if out is not None:
        out = Path(out)
        with atomic_open(out.with_suffix(".md")) as f:
            f.write(table)
        chart(runs, out.with_suffix(".png"))
    return table
