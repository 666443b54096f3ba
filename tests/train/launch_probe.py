"""`umi train` under `accelerate launch`, watched: what each rank writes, and a SIGKILL on cue.

    accelerate launch --config_file configs/accelerate/cpu_ddp.yaml tests/train/launch_probe.py \
        --config STAGE.yaml --resume out=CKPT ...

Arguments are those of `umi train`, which this runs unchanged. Two environment variables:
  UMI_PROBE_WRITES=DIR   each rank records, in DIR/rank<N>.json, what it did under the run's `out`:
                         folders it made ("mkdir"), files it opened for writing ("write"), paths it
                         renamed, removed or chmod-ed ("change"). From Python's audit events, plus
                         the two writers that raise none: safetensors' (Rust) and torch.save's (C++);
  UMI_PROBE_KILL=R:S     rank R kills itself with SIGKILL when step S ends.
Not a test module: tests/train/test_multiprocess.py launches it.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from pathlib import Path

RANK = int(os.environ.get("RANK", "0"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.rename", "os.replace", "os.remove", "os.rmdir", "os.chmod", "os.truncate",
           "shutil.rmtree", "os.symlink", "os.link"}


def _out() -> Path:
    for arg in sys.argv[1:]:
        if arg.startswith("out="):
            return Path(arg[4:]).resolve()
    raise SystemExit("launch_probe: pass out=CKPT")


def record_writes(dest: Path) -> None:
    out, seen = _out(), []

    def note(kind: str, path: object) -> None:
        if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
            full = Path(os.fspath(path)).resolve()
            if full == out or out in full.parents:
                seen.append((kind, str(full.relative_to(out))))

    def hook(event: str, args: tuple) -> None:
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[:3]
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                    isinstance(flags, int) and flags & WRITE_FLAGS):
                note("write", path)
        elif event == "os.mkdir" and args:
            note("mkdir", args[0])
        elif event == "shutil.copyfile" and len(args) > 1:
            note("write", args[1])
        elif event in CHANGES and args:
            note("change", args[0])
            if event in ("os.rename", "os.replace") and len(args) > 1:
                note("change", args[1])

    def noted(module: object, name: str, path_arg: int) -> None:
        original = getattr(module, name)

        def wrapper(*a, **kw):
            note("write", a[path_arg] if len(a) > path_arg else next(iter(kw.values()), None))
            return original(*a, **kw)

        setattr(module, name, wrapper)

    import safetensors.torch
    import torch

    noted(safetensors.torch, "save_file", 1)  # save_file(tensors, filename, ...)
    noted(torch, "save", 1)  # torch.save(obj, f, ...)
    sys.addaudithook(hook)

    def dump() -> None:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"rank{RANK}.json").write_text(json.dumps(sorted(set(seen))))

    atexit.register(dump)


def kill_at(rank: int, step: int) -> None:
    from transformers import TrainerCallback

    from multiagentllm.train import recipe

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if RANK == rank and state.global_step == step:
                os.kill(os.getpid(), signal.SIGKILL)

    train_stage = recipe.train_stage

    def with_kill(cfg, **kw):
        return train_stage(cfg, **kw, callbacks=[Kill()])

    recipe.train_stage = with_kill  # the CLI imports train_stage when it runs


if __name__ == "__main__":
    if os.environ.get("UMI_PROBE_WRITES"):
        record_writes(Path(os.environ["UMI_PROBE_WRITES"]))
    if os.environ.get("UMI_PROBE_KILL"):
        kill_at(*map(int, os.environ["UMI_PROBE_KILL"].split(":")))
    from multiagentllm.cli import app

    sys.argv = ["umi", "train", *sys.argv[1:]]
    app()
