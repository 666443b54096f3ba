"""The recipe on a tiny random Llama: it learns, it writes the agreed layout, it fails safely."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from multiagentllm.models.embedded import ModelNotFoundError
from multiagentllm.train.config import ConfigError, TrainingError
from multiagentllm.train.recipe import train_stage


class ParameterWatch(TrainerCallback):
    """Snapshots trainable parameters before training and reports which never changed."""

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def on_train_end(self, args, state, control, model=None, **kw):
        after = dict(model.named_parameters())
        self.unchanged = [n for n, p in self.before.items() if torch.equal(p, after[n].detach())]


@pytest.mark.parametrize("fmt, lr", [("lora", 3e-2), ("full", 1e-2)])
def test_loss_falls_and_every_trainable_parameter_changes(tiny_cfg, fmt, lr):
    watch = ParameterWatch()
    cfg = dataclasses.replace(tiny_cfg, format=fmt, learning_rate=lr, max_steps=8)
    result = train_stage(cfg, callbacks=[watch])
    losses = [loss for _, loss in result.metrics["loss_log"]]
    assert len(watch.before) > 0
    assert watch.unchanged == []
    assert losses[-1] < 0.9 * losses[0], losses
    assert result.metrics["eval_loss"] < losses[0]


def test_stage_folder_layout_and_manifest(tiny_cfg):
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    result = train_stage(tiny_cfg)
    out, stage = Path(tiny_cfg.out), result.path
    assert stage == out / "stage1_backbone"
    for name in ("adapter_config.json", "adapter_model.safetensors", "config.yaml", "metrics.json",
                 "loss.png", "README.md"):
        assert (stage / name).exists(), name
    assert (stage / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with safe_open(stage / "adapter_model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["data_hash"].startswith("sha256:") and metrics["prompt_version"]
    assert metrics["data"]["train"]["rows"] > 0 and metrics["steps"] == tiny_cfg.max_steps
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {"format": "lora", "base": tiny_cfg.base, "prompt_version": metrics["prompt_version"],
                        "stage1": "stage1_backbone", "roles": {}}
    assert not (out / ".work" / "stage1_backbone").exists()  # checkpoints cleaned after success
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".work"] == []
    base = AutoModelForCausalLM.from_pretrained(tiny_cfg.base)
    PeftModel.from_pretrained(base, stage)  # standard PEFT format

    role = dataclasses.replace(tiny_cfg, stage="stage2_caller", folder="caller", role="caller",
                               dataset="caller", init="stage1", max_steps=2)
    train_stage(role)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["roles"] == {"caller": {"path": "caller", "on": "stage1"}}
    assert "stage1_backbone" in (out / "caller" / "README.md").read_text()


def test_a_published_stage_names_no_folder_of_this_machine(tiny_cfg, tiny_llama, monkeypatch):
    """The base, data and checkpoint paths in a stage folder are written relative to the checkout
    (here: a folder holding both the tiny base and the run), so a committed checkpoint reads the
    same on every machine; the embedded base is named by its hub id, not by the model cache."""
    import os

    import yaml

    from multiagentllm import paths
    from multiagentllm.train.artifacts import base_name

    root = Path(os.path.commonpath([tiny_llama, tiny_cfg.out]))
    monkeypatch.setattr(paths, "repo_root", lambda: root)
    stage = train_stage(tiny_cfg).path
    published = {name: (stage / name).read_text() for name in ("adapter_config.json", "metrics.json",
                                                                "config.yaml", "README.md")}
    for name, text in published.items():
        assert str(root) not in text, name
    assert json.loads(published["adapter_config.json"])["base_model_name_or_path"] == os.path.relpath(tiny_llama, root)
    assert json.loads(published["metrics.json"])["data"]["train"]["path"].startswith(os.path.relpath(tiny_cfg.data, root))
    config = yaml.safe_load(published["config.yaml"])
    assert (config["data"], config["out"]) == (os.path.relpath(tiny_cfg.data, root), os.path.relpath(tiny_cfg.out, root))
    assert base_name("embedded") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert base_name("someone/their-model") == "someone/their-model"  # a hub id stays as given


def test_full_format_writes_a_loadable_model(tiny_cfg):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = dataclasses.replace(tiny_cfg, format="full", max_steps=2)
    path = train_stage(cfg).path
    role = dataclasses.replace(cfg, stage="single", folder="single", role="single", dataset="single")
    train_stage(role)
    AutoModelForCausalLM.from_pretrained(path)
    AutoTokenizer.from_pretrained(path)
    assert json.loads((Path(cfg.out) / "manifest.json").read_text())["format"] == "full"


def test_finished_stage_is_not_overwritten_without_permission(tiny_cfg):
    train_stage(dataclasses.replace(tiny_cfg, max_steps=1))
    with pytest.raises(ConfigError, match="already holds a finished stage; pass overwrite=true"):
        train_stage(tiny_cfg)


def test_nan_loss_stops_and_keeps_the_finished_stage(tiny_cfg, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = train_stage(dataclasses.replace(tiny_cfg, max_steps=1)).path
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    poisoned = tmp_path / "nan-model"
    model = AutoModelForCausalLM.from_pretrained(tiny_cfg.base)
    with torch.no_grad():
        model.model.norm.weight.fill_(float("nan"))
    model.save_pretrained(poisoned)
    AutoTokenizer.from_pretrained(tiny_cfg.base).save_pretrained(poisoned)
    cfg = dataclasses.replace(tiny_cfg, base=str(poisoned), overwrite=True,
                              out=str(tmp_path / "other"))
    with pytest.raises(TrainingError, match="loss became nan at step 1"):
        train_stage(cfg)
    assert not (tmp_path / "other" / "stage1_backbone").exists()
    # and with the same checkpoint folder: the finished stage stays byte for byte
    cfg = dataclasses.replace(cfg, out=tiny_cfg.out)
    with pytest.raises(ConfigError, match="base="):  # a checkpoint holds one base
        train_stage(cfg)
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before


def test_unfinished_run_needs_resume(tiny_cfg):
    work = Path(tiny_cfg.out) / ".work" / tiny_cfg.stage / "checkpoint-3"
    work.mkdir(parents=True)
    (work / "trainer_state.json").write_text("{}")
    with pytest.raises(TrainingError, match="unfinished run; pass --resume"):
        train_stage(tiny_cfg)


def test_stage2_needs_a_finished_backbone(tiny_cfg):
    cfg = dataclasses.replace(tiny_cfg, stage="stage2_planner", folder="planner", role="planner",
                              dataset="planner", init="stage1")
    with pytest.raises(ConfigError, match="init=stage1 needs a finished stage-1 backbone"):
        train_stage(cfg)


def test_base_that_is_not_a_causal_lm(tiny_cfg, tmp_path):
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelNotFoundError, match="is not a causal LM"):
        train_stage(dataclasses.replace(tiny_cfg, base=str(bert)))
    assert not (Path(tiny_cfg.out) / "stage1_backbone").exists()


def test_missing_dataset_is_named(tiny_cfg, tmp_path):
    from multiagentllm.io import DataError

    with pytest.raises(DataError, match="no train data for dataset 'global'"):
        train_stage(dataclasses.replace(tiny_cfg, data=str(tmp_path / "nowhere")))


def test_gradient_checkpointing_and_bf16_train(tiny_cfg):
    watch = ParameterWatch()
    cfg = dataclasses.replace(tiny_cfg, gradient_checkpointing=True, bf16=True, max_steps=3)
    result = train_stage(cfg, callbacks=[watch])
    assert result.metrics["bf16"] is True
    assert watch.unchanged == []


def test_the_training_config_decides_bf16_not_the_launcher(tiny_cfg, monkeypatch):
    """`accelerate launch` with a bf16 accelerate config exports ACCELERATE_MIXED_PRECISION=bf16,
    which TrainingArguments would follow for a `bf16: false` stage while its metrics said fp32."""
    from multiagentllm.train import recipe

    made = []
    make_trainer = recipe.make_trainer

    def keep(*args, **kwargs):
        made.append(make_trainer(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(recipe, "make_trainer", keep)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with pytest.warns(UserWarning, match="mixed_precision=bf16; the training config .bf16: false. gives no"):
        result = train_stage(dataclasses.replace(tiny_cfg, max_steps=1))
    assert result.metrics["bf16"] is False and made[0].accelerator.mixed_precision == "no"
    assert (result.metrics["processes"], result.metrics["engine"]) == (1, "NO")


@pytest.mark.parametrize("main", [True, False])
def test_every_rank_waits_until_the_stage_is_published(tiny_cfg, monkeypatch, main):
    """Multi-process training: all ranks meet at the same two barriers, the second one after
    the main rank has renamed the stage into place, so the next stage of a chain (on any rank)
    never starts before its init folder exists."""
    from multiagentllm.train import recipe

    events = []

    class Accelerator:
        def wait_for_everyone(self):
            events.append("wait")

    class Trainer:
        accelerator = Accelerator()

        def is_world_process_zero(self):
            return main

        def save_model(self, path):
            events.append("save")

    monkeypatch.setattr(recipe, "_write_stage", lambda *a: events.append("publish"))
    path = recipe._publish(tiny_cfg, Trainer(), None, {}, "v")
    assert path == Path(tiny_cfg.out) / tiny_cfg.folder
    assert events == (["wait", "save", "publish", "wait"] if main else ["wait", "save", "wait"])


def _add_role(out: str, role: str, rounds: int) -> None:
    import time

    from multiagentllm import checkpoint
    from multiagentllm.train import artifacts
    from multiagentllm.train.config import TrainConfig

    read = checkpoint.find_manifest

    def slow_read(path):  # widen the read-modify-write window so an unlocked update would lose roles
        manifest = read(path)
        time.sleep(0.01)
        return manifest

    checkpoint.find_manifest = slow_read

    for i in range(rounds):  # a new entry each round: a lost update stays lost
        cfg = TrainConfig(data="unused", out=out, stage=f"stage2_{role}", folder=role, role=f"{role}-{i}",
                          dataset=role, init="stage1")
        artifacts.update_manifest(Path(out), cfg, "v-test")


def test_stages_finishing_side_by_side_keep_each_other_in_the_manifest(tmp_path):
    """Two `--stage` runs publishing at once: the read-modify-write is locked, so no role is lost."""
    import multiprocessing as mp

    roles = ["planner", "caller", "summarizer", "single"]
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_add_role, args=(str(tmp_path), role, 20)) for role in roles]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["roles"]) == sorted(f"{role}-{i}" for role in roles for i in range(20))
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no lock file left behind


class EvalCount(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_evaluate(self, args, state, control, **kw):
        self.steps.append(state.global_step)


@pytest.mark.parametrize("eval_steps, expected", [(2, [2, 4]), (0, [4])])
def test_the_dev_set_is_evaluated_once_at_the_last_step(tiny_cfg, eval_steps, expected):
    """A dev pass costs minutes on a CPU: the final metrics reuse the Trainer's own evaluation at
    the last step when its schedule ran one there, instead of running a second identical one."""
    count = EvalCount()
    cfg = dataclasses.replace(tiny_cfg, max_steps=4, eval_steps=eval_steps)
    metrics = train_stage(cfg, callbacks=[count]).metrics
    assert count.steps == expected
    saved = json.loads((Path(cfg.out) / "stage1_backbone" / "metrics.json").read_text())
    assert saved["eval_loss"] == metrics["eval_loss"] > 0


@pytest.mark.slow
def test_torch_compile_trains_the_same_steps(tiny_cfg):
    """`torch_compile: true` wraps the model in torch.compile (inductor) and changes nothing the
    stage learns: the same per-step losses as eager training, and a stage that publishes."""
    eager = train_stage(dataclasses.replace(tiny_cfg, max_steps=3, out=tiny_cfg.out + "-eager"))
    compiled = train_stage(dataclasses.replace(tiny_cfg, max_steps=3, torch_compile=True))
    assert [s for s, _ in compiled.metrics["loss_log"]] == [1, 2, 3]
    for (_, a), (_, b) in zip(eager.metrics["loss_log"], compiled.metrics["loss_log"]):
        assert b == pytest.approx(a, rel=1e-3)
    assert (Path(tiny_cfg.out) / "stage1_backbone" / "adapter_model.safetensors").is_file()
