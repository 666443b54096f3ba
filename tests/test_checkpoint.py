"""The checkpoint module: one `Manifest` type read and written (the shipped file loads unchanged
and writes back byte for byte), stages recorded as training publishes them, and the one merged
backbone that training, the runtime and the exports share."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multiagentllm.checkpoint import (
    MANIFEST, CheckpointError, ExportError, Manifest, RoleEntry, export_roles, find_manifest, load_backbone,
    read_manifest, record_stage, stage1_folder, start_export, unservable, write_manifest,
)

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.mark.parametrize("manifest", sorted(SHIPPED.glob(f"*/{MANIFEST}")), ids=lambda p: p.parent.name)
def test_a_shipped_manifest_loads_and_writes_back_byte_for_byte(manifest, tmp_path):
    read = read_manifest(manifest.parent)
    assert read.stage1 == manifest.parent / "stage1_backbone" and read.stage1.is_dir()
    # a chain trained stage by stage ships its finished stages as they come (cpu-full-v2: stage 1 first)
    for name, entry in read.roles.items():
        assert entry.path.parent == manifest.parent and (entry.path / "adapter_config.json").exists(), name
    if manifest.parent.name == "cpu-full":
        assert read.roles["planner"].path == manifest.parent / "planner"
    shutil.copy(manifest, tmp_path / MANIFEST)
    copy = read_manifest(tmp_path)
    write_manifest(copy)
    assert (tmp_path / MANIFEST).read_bytes() == manifest.read_bytes()


def test_stages_recorded_in_training_order_give_the_file_training_always_wrote(tmp_path):
    """The JSON `train.artifacts` wrote before the manifest had one type: keys in this order,
    role paths relative, unknown keys kept, a role retrained in place."""
    assert find_manifest(tmp_path) is None
    assert stage1_folder(tmp_path) == tmp_path / "stage1_backbone"
    common = {"format": "lora", "base": "embedded", "prompt_version": "v1"}
    record_stage(tmp_path, **common, folder="backbone")
    record_stage(tmp_path, **common, folder="caller", role="caller", on="stage1")
    data = json.loads((tmp_path / MANIFEST).read_text())
    (tmp_path / MANIFEST).write_text(json.dumps({**data, "note": "kept"}))
    record_stage(tmp_path, **common, folder="single", role="single")
    record_stage(tmp_path, **{**common, "prompt_version": "v2"}, folder="caller2", role="caller", on="stage1")
    expected = {"format": "lora", "base": "embedded", "prompt_version": "v2", "stage1": "backbone",
                "roles": {"caller": {"path": "caller2", "on": "stage1"},
                          "single": {"path": "single", "on": "base"}},
                "note": "kept"}
    text = (tmp_path / MANIFEST).read_text()
    assert text == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert list(json.loads(text)) == list(expected)
    assert (tmp_path / MANIFEST).stat().st_mode & 0o777 == 0o644
    assert stage1_folder(tmp_path) == tmp_path / "backbone"
    manifest = read_manifest(tmp_path)
    assert manifest.stage1_for("stage1") == tmp_path / "backbone" and manifest.stage1_for("base") is None
    assert manifest.extra == {"note": "kept"}


def test_roles_recorded_before_any_backbone_name_none(tmp_path):
    record_stage(tmp_path, format="full", base="B", prompt_version="v", folder="caller", role="caller",
                 on="stage1")
    assert json.loads((tmp_path / MANIFEST).read_text()) == {
        "format": "full", "base": "B", "prompt_version": "v", "roles": {"caller": {"path": "caller", "on": "stage1"}}}
    with pytest.raises(CheckpointError, match="names no stage1 backbone"):
        read_manifest(tmp_path).stage1_for("stage1")


@pytest.mark.parametrize("text, message", [
    ("{not json", "invalid JSON"),
    ("[]", "expected a JSON object"),
    ('{"format": "gguf", "base": "b"}', "'format' is 'gguf'"),
    ('{"format": "lora"}', "missing 'base'"),
    ('{"format": "lora", "base": "b", "roles": {"caller": "caller"}}', "roles.caller must be an object"),
    ('{"format": "lora", "base": "b", "roles": {"caller": {"path": "c", "on": "x"}}}', "roles.caller.on is 'x'"),
])
def test_a_manifest_that_does_not_read_names_the_file_and_the_fault(tmp_path, text, message):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(CheckpointError, match=message) as err:
        find_manifest(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_a_folder_without_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="no manifest.json"):
        read_manifest(tmp_path)
    with pytest.raises(CheckpointError, match="not a directory"):
        read_manifest(tmp_path / "missing")


def test_to_dict_keeps_an_absolute_role_path(tmp_path):
    manifest = Manifest(tmp_path, "lora", "b", None, None, {"x": RoleEntry(Path("/elsewhere/x"), "base")})
    assert manifest.to_dict() == {"format": "lora", "base": "b",
                                  "roles": {"x": {"path": "/elsewhere/x", "on": "base"}}}


def test_the_backbone_is_the_base_merged_with_the_stage1_adapter(tmp_path):
    import torch
    from peft import PeftModel
    from tiny_llama import random_lora, tiny_base
    from transformers import AutoModelForCausalLM

    tiny_base(tmp_path / "base", ["the weather in Paris", "call the tool now"])
    random_lora(tmp_path / "base", tmp_path / "stage1", seed=1)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    base = load_backbone(tmp_path / "base")
    merged = load_backbone(tmp_path / "base", tmp_path / "stage1")
    by_hand = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / "base"),
                                        tmp_path / "stage1").merge_and_unload()
    assert not merged.training and next(merged.parameters()).dtype == torch.float32
    with torch.no_grad():
        assert torch.equal(merged(ids).logits, by_hand(ids).logits)
        assert not torch.allclose(merged(ids).logits, base(ids).logits)
    merged.save_pretrained(tmp_path / "full_stage1")
    full = load_backbone(tmp_path / "base", tmp_path / "full_stage1", full=True, dtype=torch.bfloat16)
    assert next(full.parameters()).dtype == torch.bfloat16


def test_the_checks_every_export_starts_with(tmp_path):
    """Both exports (vLLM and GGUF) start from `start_export` and `export_roles`: the dtype, the
    destination, and a trained trio."""
    ckpt = tmp_path / "ckpt"
    record_stage(ckpt, format="lora", base="embedded", prompt_version="v1", folder="planner", role="planner")
    with pytest.raises(ExportError, match="dtype 'int4': expected one of float32, float16"):
        start_export(ckpt, tmp_path / "out", dtype="int4", dtypes=("float32", "float16"), force=False)
    with pytest.raises(ExportError, match="overlaps the checkpoint"):
        start_export(ckpt, ckpt / "export", dtype="float32", dtypes=("float32",), force=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    with pytest.raises(ExportError, match="is not empty; pass --force"):
        start_export(ckpt, tmp_path / "full", dtype="float32", dtypes=("float32",), force=False)
    manifest, out = start_export(ckpt, tmp_path / "full", dtype="float32", dtypes=("float32",), force=True)
    assert out == (tmp_path / "full").resolve() and manifest.root == ckpt
    with pytest.raises(ExportError, match=r"names no caller, summarizer \(trained: planner\)"):
        export_roles(manifest)


def test_what_a_serving_engine_cannot_apply_as_a_run_time_lora():
    assert unservable({"r": 8, "bias": "none"}) == []
    assert unservable({"use_dora": True, "bias": "all", "modules_to_save": ["lm_head"]}) == [
        "use_dora", "bias", "modules_to_save"]
