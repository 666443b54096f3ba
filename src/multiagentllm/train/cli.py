"""`umi train` (thin wrappers over `train_stage` and `run_glpft`).

    umi train --config FILE [--resume] [key=value ...]        one stage
    umi train glpft --preset cpu-demo --data DATA --out CKPT  the whole GLPFT chain

`umi train ab` (two data builds trained and compared) trains and then evaluates, so it lives a layer
above training, in `multiagentllm/ab.py`; `multiagentllm/cli.py` adds it to this group.
"""

from __future__ import annotations

from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from multiagentllm.io import DataError
from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.train.chain import run_glpft
from multiagentllm.train.config import ConfigError, TrainingError, build, parse_overrides, read_yaml
from multiagentllm.train.recipe import train_stage

ERRORS = (ConfigError, DataError, TrainingError, ModelNotFoundError)  # what a command reports as `error: ...`


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


def fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


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
    try:
        cfg = build(read_yaml(config), parse_overrides(list(ctx.args)), where=str(config))
        result = train_stage(cfg, resume=resume)
    except ERRORS as e:
        fail(e)
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
    overrides = parse_overrides(list(ctx.args)) | ({"backbone": str(backbone)} if backbone else {})
    try:
        result = run_glpft(preset, data, out, overrides, stages=stage or None, resume=resume)
    except ERRORS as e:
        fail(e)
    typer.echo(f"{out}: trained {', '.join(result.trained) or 'nothing'}"
               + (f"; already finished: {', '.join(result.skipped)}" if result.skipped else ""))
