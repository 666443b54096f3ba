"""The GLPFT chain: the stages of a preset, in order, each one `train_stage` call.

Stage 1 trains a backbone on whole trajectories; the stage-2 roles start from it (base merged with
the stage-1 adapter), or from the stage-1 backbone of another checkpoint (`backbone`, copied in
before anything trains); the single-LLM baseline starts from the base.  A stage whose folder is
already finished is skipped, so a chain that stopped (or ran piecewise on several machines)
continues where it left off; `--resume` continues an interrupted stage from its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from multiagentllm.checkpoint import stage_done
from multiagentllm.train import recipe  # as a module: a test replaces recipe.train_stage
from multiagentllm.train.config import ConfigError, TrainConfig, build, preset_path, read_yaml, stage_names


@dataclass
class ChainResult:
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


def chain_configs(preset: str, data: str | Path, out: str | Path, overrides: dict[str, Any],
                  stages: list[str] | None = None) -> list[TrainConfig]:
    """Resolve every stage of `preset` (or just `stages`) with `data`, `out` and the overrides."""
    path = preset_path(preset)
    raw = read_yaml(path)
    names = stage_names(raw)
    if not names:
        raise ConfigError(f"{path}: a preset needs a 'stages:' map")
    for key in overrides:
        scope = key.partition(".")[0] if "." in key else None
        if scope is not None and scope not in names:
            raise ConfigError(f"override {key!r}: no stage {scope!r} in {path.name} ({', '.join(names)})")
    for name in stages or []:
        if name not in names:
            raise ConfigError(f"stage {name!r} is not in {path.name} ({', '.join(names)})")
    merged = {**overrides, "data": str(data), "out": str(out)}
    return [build(raw, merged, stage=name, where=str(path)) for name in names
            if not stages or name in stages]


def run_glpft(preset: str, data: str | Path, out: str | Path, overrides: dict[str, Any] | None = None,
              *, stages: list[str] | None = None, resume: bool = False) -> ChainResult:
    """Train the whole chain (or the named stages), skipping stages that already finished."""
    console = Console(stderr=True, soft_wrap=True)
    configs = chain_configs(preset, data, out, overrides or {}, stages)
    result = ChainResult()
    for cfg in configs:  # a stage-1 backbone copied in is found finished below, never trained here
        recipe.start_from_backbone(cfg)
    for i, cfg in enumerate(configs, 1):
        where = Path(cfg.out) / cfg.folder
        if stage_done(where) and not cfg.overwrite:
            console.print(f"[{i}/{len(configs)}] {cfg.stage}: already finished in {where}, skipped")
            result.skipped.append(cfg.stage)
            continue
        console.print(f"[{i}/{len(configs)}] {cfg.stage}: {cfg.dataset} data, from {cfg.init}, "
                      f"{cfg.format} -> {where}")
        stage = recipe.train_stage(cfg, resume=resume)
        result.trained.append(cfg.stage)
        result.metrics[cfg.stage] = stage.metrics
        console.print(f"[{i}/{len(configs)}] {cfg.stage}: done, train loss "
                      f"{stage.metrics['train_loss']:.4f}"
                      + (f", dev loss {stage.metrics['eval_loss']:.4f}" if "eval_loss" in stage.metrics else ""))
    return result
