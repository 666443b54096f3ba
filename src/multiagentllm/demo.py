"""`umi demo`: the whole alpha-UMi pipeline on the embedded default model, end to end, on a laptop.

    synthesize (executed, verified) -> build data (public + synthetic) -> GLPFT stage 1 -> stage 2
    (planner, caller, summarizer) + the single-LLM baseline -> run the agent on example requests
    -> evaluate alpha-UMi against the single-LLM baseline on the held-out test split.

The `cpu-demo` training budget is minutes, so the trio it trains proves that the chain works, not
that it is good; where the repository ships a trained `cpu-full` trio, the demo also runs the
examples with it.  Every step writes its outputs under OUT and is skipped when they already exist,
so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from multiagentllm.agent.display import LiveView
from multiagentllm.agent.session import build_llm, run_query
from multiagentllm.checkpoint import CheckpointError, read_manifest
from multiagentllm.data.build import build
from multiagentllm.data.synth.run import synth
from multiagentllm.eval.benchmarks.static import evaluate_static
from multiagentllm.eval.generate import Generator
from multiagentllm.eval.report import compare, write_report
from multiagentllm.eval.systems import load_system
from multiagentllm.io import read_trajectories, write_jsonl
from multiagentllm.roles.registry import TRIO
from multiagentllm.train.chain import run_glpft

EXAMPLES = (
    "Book me a flight from New York to Los Angeles next Tuesday, the cheaper one, "
    "for passenger Ada Lovelace, and tell me the booking reference.",
    "What will the weather be like in Paris tomorrow?",
    "How much is 250 US dollars in euros?",
)
# Sources read by the demo: the ones that hold trajectories or seed synthesis (the full build
# takes all of them; see `umi data sources`).
DEMO_SOURCES = ("toolbench", "apibench", "bfcl", "apibank", "sealtools", "stabletoolbench", "tooltalk")


@dataclass
class DemoConfig:
    out: Path = Path("out/demo")
    synth_n: int = 1500
    seed: int = 0
    preset: str = "cpu-demo"
    eval_limit: int = 6
    data_root: Path | None = None
    examples: tuple[str, ...] = EXAMPLES
    shipped: Path | None = None  # a trained trio to also run the examples with
    timings: dict[str, float] = field(default_factory=dict)


def _stage(console: Console, name: str, title: str):
    console.print(Rule(f"[bold]{name}[/] · {title}"))
    return time.perf_counter()


def run_demo(cfg: DemoConfig, console: Console | None = None) -> dict[str, float]:
    console = console or Console()
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)

    t = _stage(console, "1/5 synthesize", f"{cfg.synth_n} executed, verified trajectories")
    synth_dir = out / "synth"
    if not (synth_dir / "trajectories.jsonl").exists():
        synth(synth_dir, cfg.synth_n, cfg.seed, data_root=cfg.data_root)
        with open(synth_dir / "trajectories.jsonl", encoding="utf-8") as f:
            console.print(f"wrote {synth_dir}: {sum(1 for _ in f)} trajectories (card: {synth_dir / 'card.md'})")
    else:
        console.print(f"{synth_dir} exists, reused")
    cfg.timings["synthesize"] = time.perf_counter() - t

    t = _stage(console, "2/5 build data", "public sources + synthetic -> GLPFT training sets")
    data_dir = out / "data"
    if not (data_dir / "stats.json").exists():
        report = build(data_dir, sources=list(DEMO_SOURCES), data_root=cfg.data_root,
                       synthetic=[synth_dir], skip_bad=True)
        c = report.counts
        console.print(f"{c['trajectories_after_dedup']} trajectories: "
                      + ", ".join(f"{s} {v['total']}" for s, v in c["trajectories"].items())
                      + f" ({c['skipped_bad']} malformed source records skipped)")
    else:
        console.print(f"{data_dir} exists, reused")
    cfg.timings["build"] = time.perf_counter() - t

    t = _stage(console, "3/5 train", f"GLPFT chain, preset {cfg.preset}")
    ckpt = out / "checkpoint"
    run_glpft(cfg.preset, data_dir, ckpt)
    cfg.timings["train"] = time.perf_counter() - t

    t = _stage(console, "4/5 run", "the agent on example requests")
    run_examples(ckpt, cfg.examples, console, label=f"{cfg.preset} trio")
    if cfg.shipped is not None and shipped_trio_ready(cfg.shipped, console):
        run_examples(cfg.shipped, cfg.examples[:1], console, label=f"shipped trio ({cfg.shipped})")
    cfg.timings["run"] = time.perf_counter() - t

    t = _stage(console, "5/5 evaluate", f"step-level metrics on {cfg.eval_limit} held-out test tasks")
    table = evaluate(ckpt, data_dir, out / "eval", cfg.eval_limit)
    console.print(table)
    cfg.timings["evaluate"] = time.perf_counter() - t

    console.print(Rule("done"))
    for k, v in cfg.timings.items():
        console.print(f"{k:>12}: {v:6.0f} s")
    console.print(f"{'total':>12}: {sum(cfg.timings.values()):6.0f} s   outputs under {out}")
    return cfg.timings


def shipped_trio_ready(ckpt: Path, console: Console) -> bool:
    """Whether `ckpt` holds a complete trio; a chain shipped stage by stage may not yet (then say so)."""
    if not (ckpt / "manifest.json").exists():
        return False
    try:
        roles = read_manifest(ckpt).roles
    except CheckpointError as e:
        console.print(f"[yellow]shipped trio not run: {e}[/]")
        return False
    missing = [r for r in TRIO if r not in roles]
    if missing:
        console.print(f"[dim]shipped trio ({ckpt}) not run: its {', '.join(missing)} "
                      f"{'is' if len(missing) == 1 else 'are'} not trained yet (see README, Results)[/]")
    return not missing


def run_examples(ckpt: Path, examples: tuple[str, ...], console: Console, label: str) -> None:
    llm = build_llm(checkpoint=str(ckpt))
    for query in examples:
        console.print(f"\n[bold cyan]{label}[/] ▶ {query}")
        result = run_query(query, llm=llm, on_event=LiveView(console))
        console.print(f"[dim]status: {result.status}[/]")


def evaluate(ckpt: Path, data_dir: Path, out: Path, limit: int) -> str:
    """alpha-UMi vs single-LLM, static metrics on the synthetic held-out test tasks."""
    test = out / "test-synthetic.jsonl"
    if not test.exists():
        trajs = [t for t in read_trajectories(data_dir / "trajectories" / "test.jsonl") if t.source == "synthetic"]
        write_jsonl(test, trajs)
    runs = []
    for single in (False, True):
        system = load_system(str(ckpt), single=single, name="single-LLM" if single else "alpha-UMi")
        path = out / f"static-{system.name}.json"
        gen = Generator(system, cache=path.with_suffix(".cache.jsonl"))
        report, records = evaluate_static(test, gen, limit=limit)
        write_report({"system": system.name, **report}, records, path)
        runs.append(path)
    return compare(runs, out / "compare")
