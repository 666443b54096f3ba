"""Portable resume points: a few MB that let an interrupted LoRA stage continue on another machine.

A killed stage resumes exactly from `CKPT/.work/<stage>/checkpoint-*` (weights, AdamW moments,
schedule, RNG), but that folder stays on the machine that ran it and is mostly optimizer state
(AdamW keeps two fp32 copies of every trainable weight). With `resume_points: true`, every
checkpoint also writes `CKPT/.resume/<stage>/`: the adapter in bf16, the LR schedule, the RNG
state and the trainer state (step, loss log), about a sixth of a checkpoint and small enough to
commit. `--resume` on a machine without a newer local checkpoint continues from it at the same
step, learning rate and place in the data; only the AdamW moments start again from zero (Adam's
bias correction makes the next updates about `lr` per weight, as at step 1). A resume point
records what defines the run (hyper-parameters, data hash, world size) and is refused when they
differ; one whose files do not read is passed over for an intact local checkpoint and kept
(checkpoints.py). It is deleted when the stage is published.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from multiagentllm.train import checkpoints
from multiagentllm.train.config import TrainConfig, TrainingError

DIR = ".resume"
INFO = "resume.json"
RESTORED = "restored-from-resume-point"  # marks a checkpoint made from a resume point
WEIGHTS = "adapter_model.safetensors"
# What a checkpoint holds besides the optimizer: copied as they are (the weights are cast to bf16),
# with the RNG state (rng_state.pth, or rng_state_<rank>.pth per process of a distributed run).
COPIED = ("adapter_config.json", "trainer_state.json", "scheduler.pt")
RNG = "rng_state*.pth"
# The keys that decide what a resumed run computes; logging, saving, paths and the attention
# kernel (numerically the same) may change between machines.
RUN_KEYS = ("stage", "dataset", "base", "init", "format", "lora_r", "lora_alpha", "lora_dropout",
            "lora_targets", "learning_rate", "lr_scheduler", "warmup", "weight_decay",
            "max_grad_norm", "epochs", "max_steps", "token_budget", "pack_tokens", "packs_per_step",
            "grad_accum", "max_length", "train_split", "max_train_rows", "seed")


def folder(out: str | Path, stage: str) -> Path:
    return Path(out) / DIR / stage


def fingerprint(cfg: TrainConfig, data_hash: str, world_size: int) -> dict[str, Any]:
    """What must match for a resume point to continue this run."""
    values = cfg.to_dict()
    return {**{k: values[k] for k in RUN_KEYS}, "data_hash": data_hash, "world_size": world_size}


@dataclass
class ResumePoint:
    path: Path
    step: int
    run: dict[str, Any]

    def check(self, expected: dict[str, Any]) -> None:
        """Refuse a resume point made by a different run, naming what differs."""
        diff = [f"{k}: {self.run.get(k)!r} there, {v!r} now" for k, v in expected.items()
                if self.run.get(k) != v]
        if diff:
            raise TrainingError(f"{self.path} was written by a different run ({'; '.join(diff)}); "
                                f"delete {self.path} to start this stage over")

    def restore(self, work: Path) -> Path:
        """Copy into `work/checkpoint-<step>` (no optimizer file), for the Trainer to resume from.
        The caller holds the work folder's lock: the ranks of a distributed run restore it once."""
        target = work / f"checkpoint-{self.step}"
        shutil.rmtree(target, ignore_errors=True)
        tmp = work / f".checkpoint-{self.step}.restoring"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.path, tmp)
        (tmp / INFO).unlink()
        (tmp / RESTORED).write_text(f"{self.path}\n", encoding="utf-8")
        os.replace(tmp, target)
        return target


def restored(checkpoint: Path) -> bool:
    return (checkpoint / RESTORED).exists()


def _missing(folder: Path) -> list[str]:
    missing = [name for name in (WEIGHTS, *COPIED) if not (folder / name).is_file()]
    return missing + ([RNG] if not any(folder.glob(RNG)) else [])


def problem(path: Path) -> str | None:
    """What makes the resume point at `path` unusable, naming the file; None when all of it reads."""
    info = path / INFO
    try:
        _read(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{info}: not a readable resume point ({e})"
    missing = _missing(path)
    if missing:
        return f"{path}: incomplete resume point, missing {', '.join(missing)}"
    return checkpoints.problem(path)  # the same files as a checkpoint's, less the optimizer


def _read(path: Path) -> ResumePoint:
    record = json.loads((path / INFO).read_text(encoding="utf-8"))
    return ResumePoint(path, int(record["step"]), dict(record["run"]))


def load(out: str | Path, stage: str) -> ResumePoint | None:
    """The stage's resume point, or None; a damaged one is an error that names the file."""
    path = folder(out, stage)
    if not path.is_dir():
        return None
    why = problem(path)
    if why is not None:
        raise TrainingError(f"{why}; delete {path} to start this stage over")
    return _read(path)


def discard(out: str | Path, stage: str) -> None:
    """Remove a finished stage's resume point (and `.resume` once it is empty)."""
    path = folder(out, stage)
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


def write(checkpoint: Path, dest: Path, step: int, run: dict[str, Any], dtype: str = "bfloat16") -> None:
    """Write `dest` from a Trainer checkpoint, atomically: an old point stays until the new one is whole."""
    import torch
    from safetensors.torch import load_file, save_file

    tmp = dest.parent / f".{dest.name}.writing"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in COPIED:
        shutil.copy2(checkpoint / name, tmp / name)
    for rng in checkpoint.glob(RNG):
        shutil.copy2(rng, tmp / rng.name)
    cast = getattr(torch, dtype)
    tensors = load_file(checkpoint / WEIGHTS)
    save_file({k: (t.to(cast) if t.is_floating_point() else t).contiguous() for k, t in tensors.items()},
              tmp / WEIGHTS, metadata={"format": "pt"})
    (tmp / INFO).write_text(json.dumps({"step": step, "run": run}, indent=2) + "\n", encoding="utf-8")
    old = dest.parent / f".{dest.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


class ResumePointWriter(TrainerCallback):
    """After every checkpoint save, refresh the stage's resume point from it (main process only)."""

    def __init__(self, dest: Path, run: dict[str, Any]):
        self.dest = dest
        self.run = run

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        missing = _missing(checkpoint)
        if missing:  # e.g. DeepSpeed ZeRO-3 shards the weights: the local checkpoint still resumes
            raise TrainingError(f"{checkpoint} lacks {', '.join(missing)}, so no resume point can "
                                "be written from it; set resume_points: false for this setup")
        write(checkpoint, self.dest, state.global_step, self.run)
