"""`--resume` with damaged checkpoints: it names the broken file, falls back to the newest intact
checkpoint (or the resume point) and says so, and deletes nothing it did not write."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from transformers import TrainerCallback

from multiagentllm.train.checkpoints import BrokenCheckpointWarning
from multiagentllm.train.config import TrainConfig, TrainingError
from multiagentllm.train.recipe import train_stage

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:0123abcd\nsize 81920\n"


class Stop(Exception):
    pass


class StopAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            raise Stop


def config(tiny_llama: Path, tiny_data: Path, out: Path, **changes) -> TrainConfig:
    return TrainConfig(base=str(tiny_llama), data=str(tiny_data), out=str(out), max_steps=6,
                       save_steps=2, pack_tokens=1024, max_length=1024, learning_rate=5e-3, warmup=0,
                       logging_steps=1, lora_r=4, lora_alpha=8, progress=False, bf16=False,
                       **{"resume_points": True, **changes})


@pytest.fixture(scope="module")
def interrupted(tiny_llama, tiny_data, tmp_path_factory) -> Path:
    """CKPT of a run stopped in step 5 of 6: checkpoint-2, checkpoint-4, a resume point at step 4."""
    cfg = config(tiny_llama, tiny_data, tmp_path_factory.mktemp("interrupted") / "ckpt")
    with pytest.raises(Stop):
        train_stage(cfg, callbacks=[StopAt(5)])
    return Path(cfg.out)


@pytest.fixture
def cfg(interrupted, tiny_llama, tiny_data, tmp_path) -> TrainConfig:
    """A copy of the interrupted run to damage; its resume point is ignored unless a test asks."""
    out = tmp_path / "ckpt"
    shutil.copytree(interrupted, out)
    return config(tiny_llama, tiny_data, out, resume_points=False)


def work(cfg: TrainConfig) -> Path:
    return Path(cfg.out) / ".work" / cfg.stage


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garble(path: Path) -> None:
    path.write_bytes(b"\x00\x13\x37 not what was saved " * 16)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name, damage", [
    ("trainer_state.json", truncate),
    ("adapter_model.safetensors", truncate),  # SafetensorError on today's resume
    ("optimizer.pt", garble),                 # UnpicklingError
    ("scheduler.pt", truncate),
    ("rng_state.pth", truncate),
])
def test_a_broken_checkpoint_is_named_skipped_and_kept(cfg, name, damage):
    broken = work(cfg) / "checkpoint-4" / name
    damage(broken)
    damaged = broken.read_bytes()
    said = re.escape(str(broken)) + r" does not (read|open|load) .*resuming from checkpoint-2"
    with pytest.warns(BrokenCheckpointWarning, match=said):
        result = train_stage(cfg, resume=True)
    assert result.metrics["resumed_from"] == "checkpoint-2"
    assert result.metrics["train_loss_steps"] == [3, 6] and result.metrics["steps"] == 6
    # kept byte for byte, out of the Trainer's way; the clean-up after publishing leaves it
    assert (work(cfg) / "broken-checkpoint-4" / name).read_bytes() == damaged
    assert [p.name for p in work(cfg).iterdir()] == ["broken-checkpoint-4"]


def test_nothing_intact_is_an_error_that_names_every_file_and_moves_nothing(cfg):
    """Today both are deleted without a word and the stage starts again from step 0."""
    (work(cfg) / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4, "log_hi')
    (work(cfg) / "checkpoint-2" / "trainer_state.json").unlink()  # a save cut short
    before = files(work(cfg))
    with pytest.raises(TrainingError, match="nothing intact to resume from") as e:
        train_stage(cfg, resume=True)
    assert f"{work(cfg) / 'checkpoint-4' / 'trainer_state.json'} does not read" in str(e.value)
    assert f"{work(cfg) / 'checkpoint-2' / 'trainer_state.json'} is missing" in str(e.value)
    assert "Nothing was moved or deleted" in str(e.value)
    assert files(work(cfg)) == before
    assert not (Path(cfg.out) / cfg.stage).exists()


def test_without_resume_a_broken_checkpoint_is_refused_not_deleted(cfg):
    shutil.rmtree(work(cfg) / "checkpoint-2")
    (work(cfg) / "checkpoint-4" / "trainer_state.json").unlink()
    with pytest.raises(TrainingError, match="unfinished run; pass --resume"):
        train_stage(cfg)
    assert (work(cfg) / "checkpoint-4" / "adapter_model.safetensors").is_file()


def test_a_broken_checkpoint_falls_back_to_a_newer_resume_point(cfg):
    cfg = dataclasses.replace(cfg, resume_points=True)
    broken = work(cfg) / "checkpoint-4" / "optimizer.pt"
    garble(broken)
    damaged = broken.read_bytes()
    said = re.escape(str(broken)) + r" does not load .*resuming from the resume point at step 4"
    with pytest.warns(BrokenCheckpointWarning, match=said):
        result = train_stage(cfg, resume=True)
    assert result.metrics["resumed_from"].startswith("resume point at step 4")
    assert result.metrics["train_loss_steps"] == [5, 6]
    assert (work(cfg) / "broken-checkpoint-4" / "optimizer.pt").read_bytes() == damaged
    assert not (Path(cfg.out) / ".resume" / cfg.stage).exists()  # this run's own, done with


def test_a_broken_resume_point_is_set_aside_for_an_intact_checkpoint(cfg):
    """A resume point checked out without Git LFS, and a damaged newest checkpoint: the run
    continues from checkpoint-2 and keeps both."""
    cfg = dataclasses.replace(cfg, resume_points=True)
    point = Path(cfg.out) / ".resume" / cfg.stage
    (point / "adapter_model.safetensors").write_bytes(LFS_POINTER)
    garble(work(cfg) / "checkpoint-4" / "optimizer.pt")
    with pytest.warns(BrokenCheckpointWarning) as caught:
        result = train_stage(cfg, resume=True)
    said = "\n".join(str(w.message) for w in caught if w.category is BrokenCheckpointWarning)
    assert f"{point / 'adapter_model.safetensors'} does not open" in said
    assert f"{work(cfg) / 'checkpoint-4' / 'optimizer.pt'} does not load" in said
    assert result.metrics["resumed_from"] == "checkpoint-2"
    aside = Path(cfg.out) / ".resume" / f"broken-{cfg.stage}"
    assert (aside / "adapter_model.safetensors").read_bytes() == LFS_POINTER
    assert (work(cfg) / "broken-checkpoint-4").is_dir()


def test_a_broken_resume_point_alone_is_an_error_naming_the_file(cfg):
    cfg = dataclasses.replace(cfg, resume_points=True)
    shutil.rmtree(Path(cfg.out) / ".work")  # another machine: only the committed resume point
    point = Path(cfg.out) / ".resume" / cfg.stage
    truncate(point / "rng_state.pth")
    with pytest.raises(TrainingError, match="nothing intact to resume from: " + re.escape(
            str(point / "rng_state.pth")) + " does not load"):
        train_stage(cfg, resume=True)
    assert (point / "rng_state.pth").is_file()
