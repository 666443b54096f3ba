"""`umi train --config F k=v` and `umi train glpft`: the whole chain, resumable stage by stage."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from multiagentllm.cli import app

runner = CliRunner()
TINY = ["max_steps=2", "pack_tokens=1024", "max_length=1024", "lora_r=4", "progress=false", "bf16=false"]


def test_glpft_chain_fills_the_layout_and_skips_finished_stages(tiny_llama, tiny_data, tmp_path):
    out = tmp_path / "ckpt"
    args = ["train", "glpft", "--preset", "cpu-demo", "--data", str(tiny_data), "--out", str(out),
            f"base={tiny_llama}", *TINY]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage1"] == "stage1_backbone"
    assert manifest["roles"] == {
        "planner": {"path": "planner", "on": "stage1"}, "caller": {"path": "caller", "on": "stage1"},
        "summarizer": {"path": "summarizer", "on": "stage1"}, "single": {"path": "single", "on": "base"}}
    for folder in ("stage1_backbone", "planner", "caller", "summarizer", "single"):
        assert (out / folder / "adapter_model.safetensors").exists()
    stamp = (out / "planner" / "adapter_model.safetensors").stat().st_mtime_ns

    (out / "caller" / "metrics.json").unlink()  # as if the caller stage had never finished
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "trained stage2_caller;" in again.output
    assert (out / "planner" / "adapter_model.safetensors").stat().st_mtime_ns == stamp


def test_single_stage_from_a_preset_with_overrides(tiny_llama, tiny_data, tmp_path):
    preset = Path(__file__).resolve().parents[2] / "configs" / "train" / "cpu-demo.yaml"
    out = tmp_path / "ckpt"
    result = runner.invoke(app, ["train", "--config", str(preset), "stage=stage1_backbone",
                                 f"data={tiny_data}", f"out={out}", f"base={tiny_llama}", *TINY])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "stage1_backbone" / "metrics.json").read_text())["steps"] == 2


def test_cli_errors_name_the_problem(tiny_data, tmp_path):
    preset = Path(__file__).resolve().parents[2] / "configs" / "train" / "cpu-demo.yaml"
    result = runner.invoke(app, ["train", "--config", str(preset), "stage=stage1_backbone",
                                 f"data={tiny_data}", f"out={tmp_path}", "max_step=3"])
    assert result.exit_code == 2
    assert "unknown config key 'max_step'; did you mean max_steps" in result.output
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output
    result = runner.invoke(app, ["train", "glpft", "--preset", "gpu-huge", "--data", str(tiny_data),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2 and "preset 'gpu-huge'" in result.output
