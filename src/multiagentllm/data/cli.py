"""`umi data` subcommands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from multiagentllm.data.build import DEFAULT_SOURCES, build
from multiagentllm.data.loaders import SOURCES
from multiagentllm.data.synth.engine import RECIPES
from multiagentllm.data.synth.real import REAL_SOURCES
from multiagentllm.data.synth.run import synth
from multiagentllm.io import DataError

app = typer.Typer(help="Build training data from public datasets and synthetic trajectories.",
                  no_args_is_help=True)


@app.command("build")
def build_command(
    out: Path = typer.Option(..., "--out", help="Output directory."),
    sources: str = typer.Option(",".join(DEFAULT_SOURCES), "--sources",
                                help="Comma-separated source names (see `umi data sources`)."),
    data_root: Path = typer.Option(None, "--data-root", help="Datasets folder [default: ../shared/datasets]."),
    synthetic: list[Path] = typer.Option([], "--synthetic", help="Output of `umi data synth` to include (repeatable)."),
    files: list[str] = typer.Option([], "--file", metavar="SOURCE=PATH",
                                    help="Also read PATH with SOURCE's loader (repeatable), e.g. "
                                         "sharegpt=my_dialogues.json, openai_chat=chats.jsonl, alpha_umi=test.json."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed records (counted and reported) instead of failing."),
    dev: float = typer.Option(0.05, help="Fraction of instructions held out for dev."),
    test: float = typer.Option(0.05, help="Fraction of instructions held out for test."),
    tokenizer: str = typer.Option("embedded", help="Tokenizer for the length statistics ('none' to skip)."),
    retrieve_tools: int = typer.Option(0, "--retrieve-tools", metavar="K", min=0,
                                       help="Render prompts with the K tools retrieved for the instruction "
                                            "(always those it calls) when a trajectory offers more; 0: all tools."),
    step_rows: bool = typer.Option(False, "--step-rows", help="Also write per-step {prompt, completion} rows "
                                                               "(DATASET/SPLIT.jsonl) for other trainers; "
                                                               "training here reads the .seq.jsonl rows."),
) -> None:
    """Build DIR/trajectories, the GLPFT training sets and DIR/stats.json."""
    names = [s.strip() for s in sources.split(",") if s.strip()]
    pairs = []
    for spec in files:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise typer.BadParameter(f"{spec!r} is not SOURCE=PATH", param_hint="--file")
        pairs.append((name.strip(), Path(path.strip())))
    try:
        report = build(out, sources=names, data_root=data_root, synthetic=synthetic, skip_bad=skip_bad, files=pairs,
                       dev=dev, test=test, tokenizer=None if tokenizer == "none" else tokenizer,
                       retrieve_tools=retrieve_tools or None, step_rows=step_rows)
    except (DataError, KeyError) as e:
        raise typer.BadParameter(str(e).strip('"')) from None
    c = report.counts
    console = Console()
    console.print(f"[bold]wrote[/] {out}: {c['trajectories_after_dedup']} trajectories "
                  + ", ".join(f"{s}={c['trajectories'][s]['total']}" for s in c["trajectories"])
                  + f"; items {sum(c['items'].values())}; catalogue {sum(c['catalogue'].values())}"
                  + (f"; [yellow]skipped {c['skipped_bad']} bad records[/]" if c["skipped_bad"] else ""))


@app.command("sources")
def sources_command() -> None:
    """List the known data sources and where their files live under the data root."""
    table = Table("name", "yields", "files (under data root)", "description")
    for s in SOURCES.values():
        table.add_row(s.name, s.kind, "\n".join(s.patterns) or "(by path)", s.description)
    Console().print(table)


@app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="Output directory (trajectories.jsonl, stats.json, card.md)."),
    n: int = typer.Option(20000, "--n", help="Number of synthetic trajectories to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same output."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (output does not depend on it)."),
    real: str = typer.Option("apibench,sealtools,apibank,bfcl,stabletoolbench", "--real",
                             help="Real-instruction sources to execute into trajectories ('' for none)."),
    data_root: Path = typer.Option(None, "--data-root", help="Datasets folder [default: ../shared/datasets]."),
    recipe: str = typer.Option("v1", "--recipe", help="v1: the cpu-full trio's data; v2: + composed requests, "
                                                      "retriever-offered tools (see data/synth/engine.py)."),
) -> None:
    """Generate verified trajectories by executing the offline tools (see the dataset card)."""
    names = tuple(s.strip() for s in real.split(",") if s.strip())
    unknown = [s for s in names if s not in REAL_SOURCES]
    if recipe not in RECIPES:
        raise typer.BadParameter(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}", param_hint="--recipe")
    if unknown or n < 0 or workers < 1:
        raise typer.BadParameter(f"unknown real source(s) {unknown}; known: {', '.join(REAL_SOURCES)}"
                                 if unknown else "--n must be >= 0 and --workers >= 1")
    with Progress() as bar:
        task = bar.add_task("synthesising", total=n)
        stats = synth(out, n, seed, workers=workers, real=names, data_root=data_root, recipe=recipe,
                      progress=lambda done: bar.update(task, completed=done))
    Console().print(f"[bold]wrote[/] {out}/trajectories.jsonl: {stats['trajectories']} trajectories "
                    f"({stats['by_source']}), outcomes {stats['outcomes']}, "
                    f"{stats['run']['seconds']} s; card: {out}/card.md")
