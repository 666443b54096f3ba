"""`umi train` (thin wrappers over `train_stage` and `run_glpft`).

    umi train --config FILE [--resume] [key=value ...]        one stage
    umi train glpft --preset cpu-demo --data DATA --out CKPT  the whole GLPFT chain
    umi train ab --a DATA_A --b DATA_B --out DIR              two data builds, trained and compared
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
import typer
from typer.core import TyperGroup


class _TrainGroup(TyperGroup):
    """A group that also runs as a plain command: `umi train --config F k=v` needs no subcommand
    name, while `umi train glpft ...` still dispatches.  (Click would otherwise read `k=v` as the
    name of a subcommand.)"""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            ctx.meta["umi.train.single"] = True
            return click.Command.parse_args(self, ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        if ctx.meta.get("umi.train.single"):
            return click.Command.invoke(self, ctx)
        return super().invoke(ctx)


app = typer.Typer(cls=_TrainGroup, no_args_is_help=True, invoke_without_command=True,
                  context_settings={"allow_extra_args": True},
                  help="Train with GLPFT: one stage from a config, or the whole chain (glpft).")


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


def _errors() -> tuple[type[Exception], ...]:
    from multiagentllm.io import DataError
    from multiagentllm.models.embedded import ModelNotFoundError
    from multiagentllm.train.config import ConfigError, TrainingError

    return ConfigError, DataError, TrainingError, ModelNotFoundError


@app.callback()
def train(ctx: typer.Context,
          config: Path = typer.Option(None, "--config", "-c", help="a stage YAML, or a preset with stage=NAME"),
          resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint")) -> None:
    """Train one stage: `umi train --config FILE [--resume] [key=value ...]`."""
    if ctx.invoked_subcommand is not None or ctx.resilient_parsing:
        return
    if config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    from multiagentllm.train.config import build, parse_overrides, read_yaml
    from multiagentllm.train.recipe import train_stage

    try:
        cfg = build(read_yaml(config), parse_overrides(list(ctx.args)), where=str(config))
        result = train_stage(cfg, resume=resume)
    except _errors() as e:
        _fail(e)
    typer.echo(f"wrote {result.path}")


@app.command("glpft", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def glpft(ctx: typer.Context,
          preset: str = typer.Option("cpu-demo", help="cpu-demo | cpu-full | cpu-ab | tinyllama | a preset YAML"),
          data: Path = typer.Option(..., help="the built data directory (umi data build --out DATA)"),
          out: Path = typer.Option(..., help="the checkpoint directory to fill"),
          stage: list[str] = typer.Option(None, "--stage", help="run only these stages (repeatable)"),
          backbone: Path = typer.Option(None, help="start the roles from this checkpoint's stage-1 backbone "
                                                   "(copied in) instead of one trained here"),
          resume: bool = typer.Option(False, "--resume", help="continue an interrupted stage")) -> None:
    """Run the whole chain: stage-1 backbone, the three roles, the single-LLM baseline.

    Finished stages are skipped; extra `key=value` apply to every stage, `STAGE.key=value` to one.
    """
    from multiagentllm.train.chain import run_glpft
    from multiagentllm.train.config import parse_overrides

    overrides = parse_overrides(list(ctx.args)) | ({"backbone": str(backbone)} if backbone else {})
    try:
        result = run_glpft(preset, data, out, overrides, stages=stage or None, resume=resume)
    except _errors() as e:
        _fail(e)
    typer.echo(f"{out}: trained {', '.join(result.trained) or 'nothing'}"
               + (f"; already finished: {', '.join(result.skipped)}" if result.skipped else ""))


@app.command("ab", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def ab(ctx: typer.Context,
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
    from multiagentllm.ab import ABConfig, run_ab
    from multiagentllm.checkpoint import CheckpointError
    from multiagentllm.train.config import parse_overrides

    try:
        result = run_ab(ABConfig(a=a, b=b, out=out, preset=preset, backbone=backbone, tasks=tasks, seed=seed,
                                 eval_data=eval_data, overrides=parse_overrides(list(ctx.args)),
                                 command=shlex.join(sys.argv)))
    except (*_errors(), CheckpointError, ValueError) as e:
        _fail(e)
    typer.echo("\n" + result["table"])
