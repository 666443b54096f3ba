"""A run killed with SIGKILL resumes from its last checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
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
    assert [p.name for p in work.iterdir()] == ["broken-checkpoint-6"]  # set aside, never deleted
    # train_loss is the mean over the steps each process ran, and says which steps those were
    assert a["train_loss_steps"] == [1, 7] and b["train_loss_steps"] == [4, 7]
    assert abs(a["train_loss"] - sum(v for _, v in a["loss_log"]) / 7) < 1e-4
    assert abs(b["train_loss"] - sum(v for _, v in b["loss_log"][3:]) / 4) < 1e-4
    assert b["last_logged_loss"] == b["loss_log"][-1][1]
    card = (Path(killed.out) / cfg.stage / "README.md").read_text()
    assert "over steps 4-7 (resumed after step 3)" in card
    assert [s for s, _ in b["loss_log"]] == [s for s, _ in a["loss_log"]] == list(range(1, 8))
    for (_, la), (_, lb) in zip(a["loss_log"], b["loss_log"]):
        assert abs(la - lb) < 1e-5
    wa = load_file(Path(straight.out) / cfg.stage / "adapter_model.safetensors")
    wb = load_file(Path(killed.out) / cfg.stage / "adapter_model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def _learning_rates(folder: Path) -> dict[int, float]:
    state = json.loads((folder / "trainer_state.json").read_text()) if (folder / "trainer_state.json").exists() else None
    history = state["log_history"] if state else []
    return {r["step"]: r["learning_rate"] for r in history if "learning_rate" in r}


def test_resume_point_continues_a_run_on_a_machine_without_its_checkpoints(tiny_cfg, tmp_path):
    """A fresh machine has only the committed CKPT/.resume/<stage>: the run continues at the same
    step, LR and data position; only the AdamW moments restart."""
    from multiagentllm.train import resume_point

    cfg = dataclasses.replace(tiny_cfg, max_steps=7, save_steps=3, learning_rate=2e-2, warmup=2,
                              resume_points=True, keep_checkpoints=True)
    straight = dataclasses.replace(cfg, out=str(tmp_path / "straight"))
    moved = dataclasses.replace(cfg, out=str(tmp_path / "moved"))
    assert run(straight).returncode == 0

    died = run(moved, kill_at=5)
    assert died.returncode == -signal.SIGKILL, died.stderr[-3000:]
    point = Path(moved.out) / ".resume" / cfg.stage
    info = json.loads((point / "resume.json").read_text())
    assert info["step"] == 3 and info["run"]["learning_rate"] == 2e-2
    assert not any(point.glob("optimizer*"))
    weights = load_file(point / "adapter_model.safetensors")
    assert weights and all(t.dtype == torch.bfloat16 for t in weights.values())
    work = Path(moved.out) / ".work" / cfg.stage
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    assert size(point) * 3 < size(work / "checkpoint-3")  # no AdamW state, half-size weights
    shutil.rmtree(Path(moved.out) / ".work")  # the other machine never had them

    again = run(moved)  # without --resume the committed progress is never silently dropped
    assert again.returncode != 0 and "pass --resume" in again.stderr and point.is_dir()

    resumed = run(moved, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((Path(straight.out) / cfg.stage / "metrics.json").read_text())
    b = json.loads((Path(moved.out) / cfg.stage / "metrics.json").read_text())
    assert b["resumed_from"].startswith("resume point at step 3")
    assert [s for s, _ in b["loss_log"]] == list(range(1, 8))
    # steps 1-3 are the first run's log; step 4 is computed from the restored (bf16-rounded)
    # weights, so it matches the uninterrupted run closely; later steps drift (fresh moments)
    for (_, la), (_, lb) in zip(a["loss_log"][:3], b["loss_log"][:3]):
        assert la == lb
    assert abs(a["loss_log"][3][1] - b["loss_log"][3][1]) < 0.02 * a["loss_log"][3][1]
    # the LR schedule continues: the same learning rate at every step, none restarted at warmup
    lr_a = _learning_rates(Path(straight.out) / ".work" / cfg.stage / "checkpoint-7")
    lr_b = _learning_rates(Path(moved.out) / ".work" / cfg.stage / "checkpoint-7")
    assert lr_a and lr_a == lr_b
    assert not (Path(moved.out) / ".resume").exists()  # gone once the stage is published
    assert not (Path(straight.out) / ".resume").exists()
    assert resume_point.load(moved.out, cfg.stage) is None


def test_a_local_checkpoint_wins_over_an_equal_resume_point(tiny_cfg):
    cfg = dataclasses.replace(tiny_cfg, max_steps=7, save_steps=3, learning_rate=2e-2, resume_points=True)
    assert run(cfg, kill_at=5).returncode == -signal.SIGKILL
    resumed = run(cfg, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((Path(cfg.out) / cfg.stage / "metrics.json").read_text())
    assert metrics["resumed_from"] == "checkpoint-3"  # exact: AdamW state included


def test_resume_point_of_another_run_is_refused(tiny_cfg):
    from multiagentllm.train.config import TrainingError
    from multiagentllm.train.recipe import train_stage

    cfg = dataclasses.replace(tiny_cfg, max_steps=7, save_steps=3, resume_points=True)
    assert run(cfg, kill_at=5).returncode == -signal.SIGKILL
    shutil.rmtree(Path(cfg.out) / ".work")
    point = Path(cfg.out) / ".resume" / cfg.stage
    other = dataclasses.replace(cfg, learning_rate=1e-3)
    with pytest.raises(TrainingError, match=r"different run \(learning_rate: 0.005 there, 0.001 now\)"):
        train_stage(other, resume=True)
    assert point.is_dir()  # refused, not deleted
    (point / "scheduler.pt").unlink()
    with pytest.raises(TrainingError, match=r"incomplete resume point, missing scheduler.pt"):
        train_stage(cfg, resume=True)
    (point / "resume.json").write_text("{not json")
    with pytest.raises(TrainingError, match=r"resume.json: not a readable resume point"):
        train_stage(cfg, resume=True)


def test_resume_points_need_lora(tiny_cfg):
    from multiagentllm.train.config import ConfigError

    with pytest.raises(ConfigError, match="resume_points: true needs format: lora"):
        dataclasses.replace(tiny_cfg, format="full", resume_points=True).validate()
