"""A run killed with SIGKILL resumes from its last checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

WORKER = """
import json, os, signal, sys
from transformers import TrainerCallback
from multiagentllm.train.config import TrainConfig
from multiagentllm.train.recipe import train_stage

cfg = TrainConfig(**json.loads(sys.argv[1]))
kill_at, resume = int(sys.argv[2]), sys.argv[3] == "1"

class KillAt(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

train_stage(cfg, resume=resume, callbacks=[KillAt()])
"""


def run(cfg, kill_at: int = 0, resume: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WORKER, json.dumps(cfg.to_dict()), str(kill_at),
                           "1" if resume else "0"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})


def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, max_steps=7, save_steps=3, learning_rate=2e-2)
    straight = dataclasses.replace(cfg, out=str(tmp_path / "straight"))
    killed = dataclasses.replace(cfg, out=str(tmp_path / "killed"))

    done = run(straight)
    assert done.returncode == 0, done.stderr[-3000:]

    died = run(killed, kill_at=5)  # after checkpoint-3, before checkpoint-6: steps 4-5 are lost
    assert died.returncode == -signal.SIGKILL, died.stderr[-3000:]
    work = Path(killed.out) / ".work" / cfg.stage
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-3"]
    assert not (Path(killed.out) / cfg.stage).exists()
    (work / "checkpoint-6").mkdir()  # a checkpoint cut short by a kill mid-save is ignored

    resumed = run(killed, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = json.loads((Path(straight.out) / cfg.stage / "metrics.json").read_text())
    b = json.loads((Path(killed.out) / cfg.stage / "metrics.json").read_text())
    assert b["resumed_from"] == "checkpoint-3" and a["resumed_from"] is None
    assert [s for s, _ in b["loss_log"]] == [s for s, _ in a["loss_log"]] == list(range(1, 8))
    for (_, la), (_, lb) in zip(a["loss_log"], b["loss_log"]):
        assert abs(la - lb) < 1e-5
    wa = load_file(Path(straight.out) / cfg.stage / "adapter_model.safetensors")
    wb = load_file(Path(killed.out) / cfg.stage / "adapter_model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
