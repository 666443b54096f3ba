"""The Trainer's checkpoints in `CKPT/.work/<stage>/`: which ones a resumed run may start from.

A checkpoint is a folder `checkpoint-<step>` that the transformers Trainer fills with the weights
(safetensors), the optimizer, LR-schedule and RNG states (`torch.save` files) and, last of all,
`trainer_state.json`. A kill in the middle of a save leaves one without that last file; a full
disk, a copy cut short or a bad sector leaves one whose files do not read, and the Trainer would
fail on it deep inside with a bare `SafetensorError` or `UnpicklingError`, on every later try.
So a resume checks the checkpoints first, newest to oldest (`newest_intact`), and starts from the
newest that reads.

A broken checkpoint is never deleted: this run did not write it, and it may hold the only copy
of hours of training. It is renamed `broken-checkpoint-<step>` (`set_aside`), out of the
Trainer's sight (the Trainer would write its next save of that step over it, or rotate it away
by age), and the clean-up after a published stage leaves it in place (`clean`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
import zipfile
from pathlib import Path

from multiagentllm.checkpoint import ADAPTER_WEIGHTS

PREFIX = "checkpoint-"
BROKEN = "broken-"
STATE = "trainer_state.json"
# torch.save files the Trainer loads on resume (optimizer.pt, scheduler.pt, scaler.pt,
# rng_state*.pth, pytorch_model.bin); training_args.bin is written but never read back.
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
UNREAD = ("training_args.bin",)


class BrokenCheckpointWarning(UserWarning):
    """A checkpoint or resume point was passed over because one of its files does not read."""


def found(work: Path) -> list[Path]:
    """The `checkpoint-<step>` folders in `work`, newest first (whether they read or not)."""
    if not work.is_dir():
        return []
    return sorted((p for p in work.glob(f"{PREFIX}*") if p.is_dir() and p.name[len(PREFIX):].isdigit()),
                  key=step, reverse=True)


def step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[-1])


def problem(folder: Path) -> str | None:
    """What keeps a resume from `folder`, naming the file; None when every file in it reads.

    It asks what the Trainer will ask: `trainer_state.json` parses and has its step; the weights
    of a LoRA checkpoint are there; every safetensors file opens (its header is whole and covers
    the file, so a truncated copy or a Git LFS pointer fails here); every `torch.save` file loads,
    memory-mapped so that a large optimizer state costs no memory. Files in subfolders (DeepSpeed
    and FSDP shards) are left to their loaders, and a bit flipped inside tensor data goes unseen:
    safetensors keeps no checksum.
    """
    state = folder / STATE
    if not state.is_file():
        return f"{state} is missing (a save cut short)"
    try:
        global_step = json.loads(state.read_text(encoding="utf-8"))["global_step"]
        if not isinstance(global_step, int):
            raise ValueError(f"global_step is {global_step!r}")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return f"{state} does not read ({_brief(e)})"
    if (folder / "adapter_config.json").is_file() and not any(
            (folder / name).is_file() for name in ADAPTER_WEIGHTS):
        return f"{folder / ADAPTER_WEIGHTS[0]} is missing"
    for path in sorted(folder.glob("*.safetensors")):
        if (why := _safetensors_problem(path)) is not None:
            return f"{path} does not open ({why})"
    torch_files = sorted(p for p in folder.iterdir()
                         if p.suffix in TORCH_SUFFIXES and p.name not in UNREAD and p.is_file())
    for path in torch_files:
        if (why := _torch_problem(path)) is not None:
            return f"{path} does not load ({why})"
    return None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt"):
            return None
    except Exception as e:  # noqa: BLE001 - any failure to open is the answer (SafetensorError, OSError)
        return _brief(e)


def _torch_problem(path: Path) -> str | None:
    import torch
    from transformers.trainer_pt_utils import safe_globals  # the numpy types of rng_state.pth

    if not zipfile.is_zipfile(path):  # every torch.save since 1.6 writes a zip archive
        return "not a torch.save archive: cut short or overwritten"
    try:
        with safe_globals():
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return None
    except Exception as e:  # noqa: BLE001 - torch.load fails in many types (UnpicklingError, RuntimeError)
        return _brief(e)


def _brief(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def newest_intact(work: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint in `work` that reads, and each newer one that does not, with why."""
    broken = []
    for folder in found(work):
        why = problem(folder)
        if why is None:
            return folder, broken
        broken.append((folder, why))
    return None, broken


def set_aside(folder: Path) -> Path:
    """Rename a broken checkpoint (or resume point) `broken-<name>` beside it, never over another."""
    target = folder.with_name(BROKEN + folder.name)
    n = 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{BROKEN}{folder.name}-{n}")
    folder.rename(target)
    return target


def skip(folder: Path, why: str, then: str) -> Path:
    """Set a broken folder aside and say so: which file, where it now is, what the run does instead."""
    aside = set_aside(folder)
    warnings.warn(f"{why}; skipped, kept as {aside} (nothing was deleted); {then}",
                  BrokenCheckpointWarning, stacklevel=2)
    return aside


def clean(work: Path) -> list[Path]:
    """Remove the work folder of a published stage, all but the checkpoints set aside as broken
    (returned): those were not written by this run, so it leaves them to their owner."""
    if not work.is_dir():
        return []
    kept = []
    for path in work.iterdir():
        if path.name.startswith(BROKEN):
            kept.append(path)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        work.rmdir()
    return sorted(kept)
