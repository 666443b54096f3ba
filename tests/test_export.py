"""`umi export vllm` on a tiny random Llama checkpoint: the exported folders, loaded with plain
transformers + peft, give the runtime's logits; serve.md names what vLLM needs; failures name
the path and leave nothing half-written."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from multiagentllm.cli import app  # noqa: E402
from multiagentllm.export import ExportError, export_vllm  # noqa: E402
from multiagentllm.models import load_llm  # noqa: E402
from tiny_llama import random_lora, tiny_base, write_manifest  # noqa: E402
from umi_commands import check_umi_command  # noqa: E402

TRIO = ("planner", "caller", "summarizer")
RANKS = {"stage1_backbone": 8, "planner": 4, "caller": 12, "summarizer": 8, "single": 4}
TEXT = ["Rationale: I should search flights first.\nNext: Caller\nAction: search_flights",
        'Action Input: {"origin": "New York", "destination": "Los Angeles"}']


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """CKPT/ with a tiny base, stage 1, three role adapters on stage 1 and a single adapter on the
    base; adapters of several ranks, saved in bf16 as training saves them."""
    root = tmp_path_factory.mktemp("ckpt")
    base = root / "base"
    tiny_base(base, TEXT, hidden=64, intermediate=128, max_positions=256)
    for i, (name, rank) in enumerate(RANKS.items()):
        random_lora(base, root / name, seed=i + 1, rank=rank, dtype=torch.bfloat16)
        (root / name / "config.yaml").write_text(f"stage: {name}\nlora_r: {rank}\n")
    write_manifest(root, base, {**dict.fromkeys(TRIO, "stage1"), "single": "base"})
    return root


@pytest.fixture(scope="module")
def exported(ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "vllm"
    export_vllm(ckpt, out, dtype="float32")
    return out


@pytest.fixture(scope="module")
def ids(ckpt):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ckpt / "base")
    return torch.tensor([tok("<s> Book me a flight </s>\nRationale: I should search")["input_ids"]])


def _runtime_logits(llm, role: str, ids) -> torch.Tensor:
    entry = llm.role(role)
    if entry.adapter is not None:
        entry.model.set_adapter(entry.adapter)
    with torch.no_grad():
        return entry.model(input_ids=ids).logits


def _logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits.float()


def _model(path: Path, adapter: Path | None = None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return PeftModel.from_pretrained(model, adapter) if adapter else model


def test_backbone_plus_role_adapter_gives_the_runtime_logits(ckpt, exported, ids):
    trio = load_llm(ckpt, dtype="float32", device="cpu")
    seen = []
    for role in TRIO:
        want = _runtime_logits(trio, role, ids)
        got = _logits(_model(exported / "backbone", exported / "adapters" / role), ids)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        seen.append(want)
    assert not torch.allclose(seen[0], seen[1], atol=1e-3)  # the roles really differ
    # and the backbone alone is not the plain base: stage 1 is merged into it
    assert not torch.allclose(_logits(_model(exported / "backbone"), ids),
                              _logits(_model(ckpt / "base"), ids), atol=1e-3)


def test_merged_single_model_gives_the_runtime_single_logits(ckpt, exported, ids):
    single = load_llm(ckpt, single=True, dtype="float32", device="cpu")
    torch.testing.assert_close(_logits(_model(exported / "single"), ids),
                               _runtime_logits(single, "single", ids), rtol=1e-4, atol=1e-4)


def test_exported_folders_hold_what_vllm_loads(ckpt, exported):
    backbone = exported / "backbone"
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
        assert (backbone / name).exists(), name
    assert (exported / "single" / "model.safetensors").exists()
    for role in TRIO:
        folder = exported / "adapters" / role
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str(backbone)
        assert config["r"] == RANKS[role]
        # the weights are copied byte for byte, with the training config for provenance
        assert (folder / "adapter_model.safetensors").read_bytes() == \
            (ckpt / role / "adapter_model.safetensors").read_bytes()
        assert (folder / "config.yaml").exists()
    assert not list(exported.parent.glob(".vllm.*"))  # no temporary folder left behind


def test_engines_tokenize_exported_prompts_as_training_did(ckpt, exported):
    """vLLM tokenizes the prompt text with the exported tokenizer's defaults; a special-token
    string written in a prompt must stay text there, as in training (with TinyLlama's tokenizer
    every rendered `<s>`/`</s>` would otherwise become BOS/EOS)."""
    from transformers import AutoTokenizer

    from multiagentllm.models.tokens import encode

    prompt = "Tools: search\n\n<|endoftext|> User: book a flight <|endoftext|>\n"
    trained = encode(AutoTokenizer.from_pretrained(ckpt / "base"), prompt)
    assert AutoTokenizer.from_pretrained(ckpt / "base")(prompt)["input_ids"] != trained  # the trap
    for folder in ("backbone", "single"):
        served = AutoTokenizer.from_pretrained(exported / folder)
        assert served(prompt)["input_ids"] == served.encode(prompt) == trained


def test_serve_md_names_the_adapters_the_rank_and_working_umi_commands(exported):
    text = (exported / "serve.md").read_text()
    serve = next(line for line in text.splitlines() if line.startswith("vllm serve"))
    assert str(exported / "backbone") in serve
    block = text[text.index(serve):text.index("```", text.index(serve))]
    for role in TRIO:
        assert f"{role}={exported / 'adapters' / role}" in block
    assert "--enable-lora" in block and "--max-loras 3" in block
    assert "--max-lora-rank 16" in block  # the largest rank is 12; vLLM accepts 8, 16, 32, ...
    assert "largest adapter rank is 12" in text
    assert f"vllm serve {exported / 'single'} --served-model-name single" in text
    umi = [line for line in text.splitlines() if line.startswith("umi ")]
    assert len(umi) == 4
    for line in umi:
        check_umi_command(shlex.split(line))


def test_merge_roles_writes_three_full_models_with_the_runtime_logits(ckpt, tmp_path, ids):
    out = tmp_path / "merged"
    result = export_vllm(ckpt, out, dtype="float32", merge_roles=True)
    assert sorted(p.name for p in out.iterdir()) == ["caller", "planner", "serve.md", "single", "summarizer"]
    assert result.backbone is None and result.roles["caller"] == out.resolve() / "caller"
    trio = load_llm(ckpt, dtype="float32", device="cpu")
    for role in ("planner", "caller"):
        torch.testing.assert_close(_logits(_model(out / role), ids), _runtime_logits(trio, role, ids),
                                   rtol=1e-4, atol=1e-4)
    text = (out / "serve.md").read_text()
    assert f"vllm serve {out.resolve() / 'planner'} --served-model-name planner" in text
    for line in (x for x in text.splitlines() if x.startswith("umi ")):
        check_umi_command(shlex.split(line))


def test_cli_exports_bf16_by_default_and_refuses_to_overwrite_without_force(ckpt, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "vllm"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    runner = CliRunner()
    refused = runner.invoke(app, ["export", "vllm", "--checkpoint", str(ckpt), "--out", str(out)])
    assert refused.exit_code == 2
    assert "is not empty" in refused.output and "--force" in refused.output
    assert (out / "old.txt").read_text() == "keep me"

    done = runner.invoke(app, ["export", "vllm", "--checkpoint", str(ckpt), "--out", str(out), "--force"])
    assert done.exit_code == 0, done.output
    assert "serve.md" in done.output
    assert not (out / "old.txt").exists()
    assert json.loads((out / "backbone" / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(out / "backbone" / "model.safetensors", "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.bfloat16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vllm"]  # no .partial or .old left


def _copy(ckpt: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ckpt"
    shutil.copytree(ckpt, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["base"] = str(ckpt / "base")
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def _edit_manifest(ckpt: Path, **changes) -> None:
    manifest = json.loads((ckpt / "manifest.json").read_text())
    manifest.update(changes)
    (ckpt / "manifest.json").write_text(json.dumps(manifest))


def test_missing_pieces_are_named(ckpt, tmp_path):
    runner = CliRunner()

    def fails(checkpoint: Path, *needles: str) -> None:
        out = tmp_path / "out"
        result = runner.invoke(app, ["export", "vllm", "-c", str(checkpoint), "--out", str(out)])
        assert result.exit_code == 2, result.output
        for needle in needles:
            assert needle in result.output, (needle, result.output)
        assert not out.exists()

    fails(tmp_path, "no manifest.json", str(tmp_path))
    broken = _copy(ckpt, tmp_path)
    (broken / "caller" / "adapter_model.safetensors").unlink()
    fails(broken, "the caller adapter has no weights", str(broken / "caller" / "adapter_model.safetensors"))
    shutil.rmtree(broken / "caller")
    fails(broken, "the caller adapter is missing", str(broken / "caller" / "adapter_config.json"))
    shutil.copytree(ckpt / "caller", broken / "caller")
    shutil.rmtree(broken / "stage1_backbone")
    fails(broken, "the stage-1 adapter is missing", str(broken / "stage1_backbone"))
    shutil.copytree(ckpt / "stage1_backbone", broken / "stage1_backbone")
    _edit_manifest(broken, roles={"planner": {"path": "planner", "on": "stage1"}})
    fails(broken, "names no caller, summarizer", "finish the training chain")


def test_destination_checks(ckpt, tmp_path):
    with pytest.raises(ExportError, match="overlaps the checkpoint"):
        export_vllm(ckpt, ckpt.parent, force=True)  # would replace the checkpoint itself
    with pytest.raises(ExportError, match="overlaps the checkpoint"):
        export_vllm(ckpt, ckpt / "planner", force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export_vllm(ckpt, tmp_path / "file")
    with pytest.raises(ExportError, match="dtype 'int8'"):
        export_vllm(ckpt, tmp_path / "x", dtype="int8")


def test_unservable_adapters_and_mixed_backbones_point_to_merge_roles(ckpt, tmp_path):
    bad = _copy(ckpt, tmp_path)
    config = json.loads((bad / "planner" / "adapter_config.json").read_text())
    (bad / "planner" / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(ExportError, match="cannot serve an adapter with use_dora.*--merge-roles"):
        export_vllm(bad, tmp_path / "a")
    (bad / "planner" / "adapter_config.json").write_text(json.dumps(config))
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["roles"]["caller"]["on"] = "base"
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="different weights.*caller: base.*--merge-roles"):
        export_vllm(bad, tmp_path / "b")


def test_a_failed_export_leaves_the_old_output_and_no_partial_folder(ckpt, tmp_path):
    bad = _copy(ckpt, tmp_path)
    (bad / "single" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous export")
    with pytest.raises(Exception, match="deserializing header"):  # the single adapter, loaded last
        export_vllm(bad, out, dtype="float32", force=True)
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert not list(tmp_path.glob(".out.*"))


def test_a_checkpoint_without_the_single_baseline_exports_the_trio_and_says_so(ckpt, tmp_path):
    partial = _copy(ckpt, tmp_path)
    manifest = json.loads((partial / "manifest.json").read_text())
    del manifest["roles"]["single"]
    _edit_manifest(partial, roles=manifest["roles"])
    result = export_vllm(partial, tmp_path / "out", dtype="float32")
    assert result.single is None and not (tmp_path / "out" / "single").exists()
    assert result.notes == [f"{partial} has no single-LLM baseline yet; single/ not written"]
    text = (tmp_path / "out" / "serve.md").read_text()
    assert "--served-model-name single" not in text and "no single-LLM baseline yet" in text
