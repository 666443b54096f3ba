"""`umi train ab`: choose between two data builds by measurement.

    umi train ab --a out/data --b out/data-v2 --out runs/ab-v1-v2 --tasks 100 --seed 0

Both builds train the same preset from the same stage-1 backbone (cpu-ab: the three roles, same
budgets) into DIR/a and DIR/b. Both trios then play the same seeded sample of `--tasks` pass-rate
tasks per split (new instructions of the families trained on: `passrate_seen`; the families held
out of training: `passrate`), and `eval.paired` gives each figure's difference a - b with a 95%
bootstrap interval over the tasks.

    DIR/a/, DIR/b/          the two checkpoints (the stage-1 backbone copied in, planner, caller, summarizer)
    DIR/results/{a,b}/      the `umi eval suite` runs of the two pass-rate benchmarks (reports, items, caches)
    DIR/paired.md, .json    the comparison
    DIR/ab.json             the settings: the builds (paths, hashes, counts), preset, budgets, seed, tasks, timings

The tasks come from one build's test split (a's, or --eval-data's), so both sides play identical
items, and neither build may train on any of them (`check_leaks`). Rerunning the command resumes
it: finished stages are skipped, an interrupted one continues from its checkpoint, and finished
evaluations are reused (the suite's reports and generation caches).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from multiagentllm.checkpoint import CheckpointError
from multiagentllm.data.splits import name_shared, shared_instructions
from multiagentllm.eval import paired
from multiagentllm.eval.benchmarks.base import file_fingerprint, read_object
from multiagentllm.eval.benchmarks.passrate import FAMILIES_OF, sample_tasks
from multiagentllm.eval.suite import SuiteConfig, run_suite
from multiagentllm.io import SkipReport, read_trajectories, write_json
from multiagentllm.paths import command_line, portable
from multiagentllm.train.chain import chain_configs, run_glpft
from multiagentllm.train.cli import ERRORS, fail
from multiagentllm.train.config import TrainConfig, parse_overrides
from multiagentllm.train.data import split_file
from multiagentllm.types import Trajectory

SIDES = ("a", "b")
BENCHMARKS = ("passrate_seen", "passrate")  # the pass rate on the families trained on, and held out
SYSTEM = "alpha-umi"
SHOWN = 5  # leaked tasks named in the error


class ABError(ValueError):
    """An A/B that cannot run as asked; the message names the build, file or task."""


@dataclass
class ABConfig:
    a: Path  # the two data builds (`umi data build --out DIR`)
    b: Path
    out: Path
    preset: str = "cpu-ab"
    backbone: Path | None = None  # None: the preset's
    tasks: int = 100  # pass-rate tasks per split
    seed: int = 0  # of the task sample
    eval_data: Path | None = None  # the build whose test split gives the tasks (None: a)
    overrides: dict[str, Any] = field(default_factory=dict)  # `key=value` for every stage
    command: str = ""

    def data(self, side: str) -> Path:
        return Path(self.a if side == "a" else self.b)

    def train_overrides(self) -> dict[str, Any]:
        return {**self.overrides, **({"backbone": str(self.backbone)} if self.backbone else {})}


def run_ab(cfg: ABConfig, console: Console | None = None) -> dict[str, Any]:
    """Check, train both sides, evaluate both, compare; resumable. Returns what ab.json holds,
    with the paired table's Markdown under "table"."""
    console = console or Console(highlight=False, soft_wrap=True)
    started, seconds = datetime.now(timezone.utc), {}
    test = eval_split(cfg, console)
    tasks = {name: sample_tasks(test, SkipReport(), families=FAMILIES_OF[name], limit=cfg.tasks,
                                seed=cfg.seed)[0] for name in BENCHMARKS}
    for side in SIDES:
        check_leaks(side, cfg.data(side), [t for group in tasks.values() for t in group])
    for side in SIDES:
        console.rule(f"{side}: train {cfg.preset} on {escape(portable(cfg.data(side)))}")
        seconds[f"train_{side}"] = _timed(run_glpft, cfg.preset, cfg.data(side), cfg.out / side,
                                          cfg.train_overrides(), resume=True)
    for side in SIDES:
        console.rule(f"{side}: {', '.join(BENCHMARKS)}, {cfg.tasks} tasks each")
        seconds[f"eval_{side}"] = _timed(run_suite, suite_config(cfg, side, test), console)
    rows, _, paths = paired.compare_runs(*[(s, cfg.out / "results" / s, SYSTEM) for s in SIDES],
                                         cfg.out / "paired", list(BENCHMARKS), note=describe(cfg, test))
    summary = settings(cfg, test, tasks) | {
        "sides": {side: side_summary(cfg, side) for side in SIDES},
        "paired": [r.to_dict() for r in rows], "seconds_this_run": seconds,
        "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat()}
    write_json(cfg.out / "ab.json", summary)
    console.print(f"wrote {escape(str(paths['md']))}, {escape(str(cfg.out / 'ab.json'))}")
    return summary | {"table": paired.markdown(rows, *SIDES)}


def describe(cfg: ABConfig, test: Path) -> str:
    """What a and b are, for the comparison's reader."""
    backbone = stage_configs(cfg, "a")[0].backbone
    return (f"a: the data build `{portable(cfg.a)}`; b: `{portable(cfg.b)}`. Each trained with the "
            f"`{cfg.preset}` preset" + (f" from the stage-1 backbone of `{portable(backbone)}`" if backbone else "")
            + f"; {cfg.tasks} tasks per pass-rate split (seed {cfg.seed}) from `{portable(test)}`, the same "
            "for both; settings in ab.json.")


def _timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return round(time.perf_counter() - start, 1)


def eval_file(data: Path) -> Path:
    path = Path(data) / "trajectories" / "test.jsonl"
    if not path.exists():
        raise ABError(f"{path} not found; a data build (`umi data build --out DIR`) is expected")
    return path


def eval_split(cfg: ABConfig, console: Console) -> Path:
    """The test split whose tasks both sides play: --eval-data's, else a's. When a's and b's
    differ, say so: b's own held-out instructions are not what it is scored on."""
    source = cfg.eval_data or cfg.a
    digests = {side: file_fingerprint(eval_file(cfg.data(side)))["sha256"] for side in SIDES}
    if digests["a"] != digests["b"]:
        console.print(f"[yellow]note[/]: the test splits of a and b differ; both sides play the tasks of "
                      f"{escape(str(eval_file(source)))}" + ("" if cfg.eval_data else " (choose with --eval-data)"))
    return eval_file(source)


def check_leaks(side: str, data: Path, tasks: list[Trajectory]) -> None:
    """Refuse a build whose training split holds the instruction of an evaluation task."""
    train = Path(data) / "trajectories" / "train.jsonl"
    if not train.exists():
        raise ABError(f"{train} not found: cannot check that build {side} does not train on the "
                      "evaluation tasks; a data build (`umi data build --out DIR`) is expected")
    leaked = shared_instructions(read_trajectories(train), tasks)
    if leaked:
        named = name_shared(leaked, SHOWN, 80)
        raise ABError(f"build {side} ({data}) trains on {len(leaked)} of the evaluation tasks ({named}); "
                      "rebuild it without them, or take the tasks from another build (--eval-data)")


def suite_config(cfg: ABConfig, side: str, test: Path) -> SuiteConfig:
    """Side's trio on both pass-rate benchmarks, both reading `test` (the held-out families'
    tasks are in a build's test split too), the same limit and seed for both sides."""
    return SuiteConfig(checkpoint=cfg.out / side, data=test.parent.parent, out=cfg.out / "results" / side,
                       systems=(SYSTEM,), benchmarks=BENCHMARKS, chosen=True, limit_passrate=cfg.tasks,
                       synth=test, seed=cfg.seed, command=cfg.command)


def stage_configs(cfg: ABConfig, side: str) -> list[TrainConfig]:
    return chain_configs(cfg.preset, cfg.data(side), cfg.out / side, cfg.train_overrides())


def settings(cfg: ABConfig, test: Path, tasks: dict[str, list[Trajectory]]) -> dict[str, Any]:
    stages = stage_configs(cfg, "a")
    return {"command": cfg.command, "preset": cfg.preset, "overrides": cfg.overrides,
            "backbone": portable(stages[0].backbone) if stages[0].backbone else None,
            "budgets": {c.stage: c.token_budget for c in stages}, "tasks": cfg.tasks, "seed": cfg.seed,
            "eval_split": {"path": portable(test), **file_fingerprint(test)},
            "items": {name: [t.id for t in group] for name, group in tasks.items()}}


def side_summary(cfg: ABConfig, side: str) -> dict[str, Any]:
    """One side's build (what it trained on, hashed), its stages' training figures and its pass rates."""
    data, stages = cfg.data(side), stage_configs(cfg, side)
    files = [data / "trajectories" / "train.jsonl", *(split_file(data, c.dataset, c.train_split) for c in stages)]
    stats = read_object(data / "stats.json") or {}
    results = cfg.out / "results" / side
    return {"data": portable(data), "checkpoint": portable(cfg.out / side),
            "files": {str(f.relative_to(data)): file_fingerprint(f)["sha256"] for f in files},
            "trajectories": stats.get("trajectories"),
            "training": {c.stage: _training(cfg.out / side / c.folder) for c in stages},
            "results": {name: _result(results / f"{name}-{SYSTEM}.json") for name in BENCHMARKS}}


def _training(folder: Path) -> dict[str, Any]:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    keys = ("steps", "train_loss", "eval_loss", "tokens_per_second", "train_seconds_this_run", "resumed_from")
    return {k: metrics.get(k) for k in keys}


def _result(path: Path) -> dict[str, Any]:
    report = read_object(path) or {}
    return {k: report.get(k) for k in ("n", "pass_rate", "seconds")}


def ab_command(ctx: typer.Context,
               a: Path = typer.Option(..., "--a", help="the first data build (umi data build --out DATA)"),
               b: Path = typer.Option(..., "--b", help="the second data build"),
               out: Path = typer.Option(..., help="the A/B folder: DIR/a, DIR/b, DIR/results, paired.md, ab.json"),
               preset: str = typer.Option("cpu-ab", help="the preset both sides train (cpu-ab: the three roles)"),
               backbone: Path = typer.Option(None, help="the checkpoint whose stage-1 backbone both sides start "
                                                        "from (default: the preset's)"),
               tasks: int = typer.Option(100, min=1, help="pass-rate tasks per split, the same for both sides"),
               seed: int = typer.Option(0, help="seed of the task sample"),
               eval_data: Path = typer.Option(None, help="the build whose test split gives the tasks (default: --a)")) -> None:
    """Train two data builds on the same preset and backbone, score both on the same pass-rate
    tasks and compare them paired. Rerun the same command to resume; `key=value` as for glpft."""
    try:
        result = run_ab(ABConfig(a=a, b=b, out=out, preset=preset, backbone=backbone, tasks=tasks, seed=seed,
                                 eval_data=eval_data, overrides=parse_overrides(list(ctx.args)),
                                 command=command_line()))
    except (*ERRORS, CheckpointError, ValueError) as e:
        fail(e)
    typer.echo("\n" + result["table"])
