"""Configs: every shipped YAML resolves; typos and bad values stop with a named key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from multiagentllm.train.chain import chain_configs
from multiagentllm.train.config import (
    PRESETS, ConfigError, TrainConfig, build, parse_overrides, preset_path, read_yaml,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "src" / "multiagentllm" / "configs" / "train").glob("*.yaml"))
CHAINS = [p for p in SHIPPED if p.stem != "cpu-ab"]  # cpu-ab: only the roles (tests/train/test_ab.py)
ACCELERATE = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


def test_every_preset_is_shipped_in_the_package():
    assert {p.stem for p in SHIPPED} == set(PRESETS)
    for name in PRESETS:
        assert preset_path(name).exists()


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_every_shipped_chain_resolves_every_stage(path):
    configs = chain_configs(str(path), "DATA", "CKPT", {})
    assert [c.dataset for c in configs] == ["global", "planner", "caller", "summarizer", "single"]
    backbone, *roles, single = configs
    assert (backbone.role, backbone.init, backbone.folder) == ("", "base", "stage1_backbone")
    assert [(c.role, c.folder, c.init) for c in roles] == [
        ("planner", "planner", "stage1"), ("caller", "caller", "stage1"),
        ("summarizer", "summarizer", "stage1")]
    assert (single.role, single.init) == ("single", "base")
    assert len({c.base for c in configs}) == 1 and len({c.format for c in configs}) == 1


def test_cpu_full_budget_fits_the_design():
    configs = chain_configs("cpu-full", "DATA", "CKPT", {})
    total = sum(c.token_budget for c in configs)
    assert 3_000_000 <= total <= 6_000_000
    # each stage ~2 h at the ~200 tok/s measured on the project's 2-core CPU (fp32 LoRA)
    assert all(c.token_budget / 200 <= 2.1 * 3600 for c in configs)
    by_stage = {c.stage: c.token_budget for c in configs}
    # the single-LLM baseline sees what the planner model saw in all (backbone + its stage 2)
    assert by_stage["single"] == by_stage["stage1_backbone"] + by_stage["stage2_planner"]


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_configs_parse(path):
    """Each config reads with accelerate's own loader; the GPU ones ask for bf16, the CPU one (two
    processes over gloo, launched by torchrun: hence MULTI_GPU with use_cpu) for fp32."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert str(config.distributed_type).rsplit(".", 1)[-1] in ("DEEPSPEED", "FSDP", "NO", "MULTI_GPU")
    assert config.mixed_precision == ("no" if config.use_cpu else "bf16")
    if config.use_cpu:
        assert config.num_processes == 2


def test_deepspeed_and_fsdp_are_shipped():
    kinds = {yaml.safe_load(p.read_text()).get("deepspeed_config", {}).get("zero_stage") for p in ACCELERATE}
    assert {2, 3} <= kinds
    assert any(yaml.safe_load(p.read_text())["distributed_type"] == "FSDP" for p in ACCELERATE)


def test_unknown_key_is_named_with_suggestions(tmp_path):
    path = tmp_path / "stage.yaml"
    path.write_text("data: D\nout: O\nlearning_rat: 1.0e-4\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'learning_rat'; did you mean learning_rate"):
        build(read_yaml(path), {}, where=str(path))
    with pytest.raises(ConfigError, match=r"command line: unknown config key 'lora_rank'.*lora_r"):
        build({"data": "D", "out": "O"}, parse_overrides(["lora_rank=8"]))


def test_overrides_apply_to_all_or_one_stage():
    overrides = parse_overrides(["max_steps=7", "stage2_caller.max_steps=3", "learning_rate=1e-4"])
    configs = {c.stage: c for c in chain_configs("cpu-demo", "D", "O", overrides)}
    assert configs["stage2_caller"].max_steps == 3
    assert configs["stage2_planner"].max_steps == 7
    assert configs["stage1_backbone"].learning_rate == pytest.approx(1e-4)
    with pytest.raises(ConfigError, match="no stage 'stage3'"):
        chain_configs("cpu-demo", "D", "O", parse_overrides(["stage3.max_steps=1"]))


@pytest.mark.parametrize("overrides, message", [
    (["lora_r=many"], "'lora_r': 'many' is not a valid int"),
    (["bf16=maybe"], "bf16 'maybe': expected true, false or auto"),
    (["dataset=chat"], "dataset 'chat'"),
    (["init=stage2"], "init 'stage2'"),
    (["max_length=4096", "pack_tokens=1024"], "max_length"),
    (["noequals"], "expected key=value"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build({"data": "D", "out": "O"}, parse_overrides(overrides))


def test_preset_needs_a_stage_and_data():
    raw = read_yaml(preset_path("cpu-demo"))
    with pytest.raises(ConfigError, match="pick a stage with stage=NAME"):
        build(raw, {"data": "D", "out": "O"})
    with pytest.raises(ConfigError, match="data: the built data directory is required"):
        build(raw, {"out": "O"}, stage="stage1_backbone")


def test_resolved_config_round_trips():
    cfg = build({"data": "D", "out": "O", "learning_rate": "3e-4"}, {})
    assert cfg.learning_rate == pytest.approx(3e-4)
    assert TrainConfig(**yaml.safe_load(yaml.safe_dump(cfg.to_dict()))).validate() == cfg
