"""recipes/tinyllama_cpu.py: the shape it builds is TinyLlama-1.1B's, its tokenizer has the Llama
layout, the training commands it launches are the recipe's (with its CPU overrides only) and parse
as `umi train` parses them, and it runs the commands serve.md gives. The whole script on a tiny
shape is the slow test at the end (~3 min)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from multiagentllm.train.config import build, parse_overrides, read_yaml
from umi_commands import check_umi_command

torch = pytest.importorskip("torch")

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
sys.path.insert(0, str(RECIPES))
tc = importlib.import_module("tinyllama_cpu")
tc_vllm = importlib.import_module("tinyllama_cpu_vllm")

CORPUS = ["Tools:\n- search_flights: Search flights. Args: origin (string, required).",
          '<s> User: Book me a flight to Paris </s>\nAction: search_flights\nAction Input: {"origin": "NYC"}',
          "Observation: café 日本 prices 120 USD, 95 EUR"]


def test_the_default_shape_is_tinyllama_1_1b():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = tc.shape()
    assert {k: config[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                   "num_key_value_heads", "vocab_size", "intermediate_size")} == {
        "num_hidden_layers": 22, "hidden_size": 2048, "num_attention_heads": 32, "num_key_value_heads": 4,
        "vocab_size": 32000, "intermediate_size": 5632}
    assert config["max_position_embeddings"] == 2048 and config["tie_word_embeddings"] is False
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**config))
    counts = tc.parameter_counts(config, lora_r=64)
    assert sum(p.numel() for p in model.parameters()) == counts["model"] == 1_100_048_384
    assert counts["lora"] == 50_462_720  # ~100 MB per adapter in bf16, as recipes/README.md says


def test_a_smaller_shape_keeps_tinyllamas_ratios_and_lora_count():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = tc.shape(layers=2, hidden=512)
    assert config["num_attention_heads"] == 8 and config["num_key_value_heads"] == 1  # head size 64
    assert config["intermediate_size"] == 1408 and config["vocab_size"] == 32000
    config = tc.shape(layers=1, hidden=128)
    model = get_peft_model(LlamaForCausalLM(LlamaConfig(**config)), LoraConfig(r=64, target_modules="all-linear"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == tc.parameter_counts(config, lora_r=64)["lora"]


def test_the_tokenizer_has_the_llama_layout_and_keeps_the_training_rule():
    from multiagentllm.models.tokens import encode

    tok = tc.llama_tokenizer(CORPUS)
    assert len(tok) == 32000 and (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens([3, 258]) == ["<0x00>", "<0xFF>"]
    text = "<s> User: 日本 </s>\n{}"
    ids = encode(tok, text)
    assert ids[0] == 1 and 1 not in ids[1:] and 2 not in ids  # the literal <s>, </s> stay text
    assert 1 in tok(text)["input_ids"][1:]  # by its own default it reads them as BOS/EOS (the export's trap)
    assert tok.decode(ids, skip_special_tokens=True) == text  # byte fallback round-trips 日本


def test_the_base_is_a_model_folder_training_and_vllm_load(tmp_path):
    from multiagentllm.models.load import check_causal_lm, load_tokenizer

    config = tc.shape(layers=1, hidden=64)
    extra = tc.build_base(tmp_path / "base", config, CORPUS)
    saved = check_causal_lm(tmp_path / "base")
    assert {k: saved[k] for k in ("num_hidden_layers", "hidden_size", "vocab_size", "bos_token_id")} == {
        "num_hidden_layers": 1, "hidden_size": 64, "vocab_size": 32000, "bos_token_id": 1}
    assert saved["dtype"] == "bfloat16"
    tok = load_tokenizer(tmp_path / "base")
    assert len(tok) == 32000 and 0 < extra < 32000  # three lines of corpus: unused ids fill the rest
    assert sum(1 for t in tok.get_vocab() if t.startswith("<extra_")) == extra


def _run(tmp_path, *flags):
    return tc.Run(tc.parser().parse_args(["--work", str(tmp_path / "work"), *flags]))


def test_training_commands_are_the_recipes_with_the_cpu_overrides_only(tmp_path):
    run = _run(tmp_path, "--layers", "2", "--hidden", "256")
    commands = tc.train_commands(run)
    assert [cfg.stage for cfg, _ in commands] == list(read_yaml(tc.PRESET)["stages"])
    for cfg, argv in commands:
        assert argv[1:7] == ["-m", "accelerate.commands.launch", "--config_file", str(tc.ACCELERATE_CONFIG),
                             "--num_processes", "1"]
        umi = ["umi", *argv[argv.index("multiagentllm.cli") + 1:]]
        loose = check_umi_command(umi)
        parsed = build(read_yaml(tc.PRESET), parse_overrides(loose), where="tinyllama.yaml")
        assert parsed == cfg and "--resume" in umi
        preset = build(read_yaml(tc.PRESET), {"stage": cfg.stage, "data": "d", "out": "o"})
        changed = {k for k, v in parsed.to_dict().items() if preset.to_dict()[k] != v}
        assert changed == set(tc.CPU_OVERRIDES) | {"data", "out", "base", "accelerate_config"}
        assert parsed.bf16 == "true" and parsed.gradient_checkpointing and parsed.lora_r == 64


def test_the_servers_are_the_vllm_serve_lines_of_serve_md(tmp_path):
    from multiagentllm.checkpoint import Manifest
    from multiagentllm.export import ExportResult, serve_text

    out = tmp_path / "vllm"
    result = ExportResult(out=out, roles={r: out / "adapters" / r for r in ("planner", "caller", "summarizer")},
                          backbone=out / "backbone", single=out / "single", max_rank=64)
    manifest = Manifest(root=tmp_path / "ckpt", format="lora", base="base", prompt_version="v",
                        stage1=None, roles={})
    servers = tc_vllm.serve_commands(serve_text(result, manifest, "bfloat16"))
    assert set(servers) == {"backbone", "single"}
    trio = servers["backbone"]
    assert trio[:4] == ["-m", "vllm.entrypoints.openai.api_server", "--model", str(out / "backbone")]
    assert trio[trio.index("--max-lora-rank") + 1] == "64"
    assert trio[trio.index("--lora-modules") + 1:] == [f"{r}={out / 'adapters' / r}"
                                                        for r in ("planner", "caller", "summarizer")]
    assert tc_vllm._with_port(trio, 1234)[trio.index("--port") + 1] == "1234"


def test_the_vllm_prompt_is_a_first_turn_of_the_rows_the_data_step_writes(tmp_path):
    """The vLLM step reads what `umi data build` writes by default (`<split>.seq.jsonl`; the
    per-step `dev.jsonl` it once read needs --step-rows, so the 1.1B run stopped there)."""
    from multiagentllm.data.builders import sequence_row
    from multiagentllm.io import read_trajectories, write_jsonl

    trajs = list(read_trajectories(Path(__file__).parent / "fixtures" / "trajectories.jsonl"))
    rows = [r for t in trajs if (r := sequence_row(t, "planner"))]
    write_jsonl(tmp_path / "planner" / "dev.seq.jsonl", rows)
    prompt = tc_vllm.shortest_prompt(tmp_path, "planner")
    firsts = [r["text"][:r["spans"][0][0]] for r in rows]
    assert prompt == min(firsts, key=len) and prompt.startswith("You are the planner")
    (tmp_path / "caller").mkdir()
    (tmp_path / "caller" / "dev.seq.jsonl").write_text("")
    with pytest.raises(SystemExit, match="dev.seq.jsonl has no rows"):
        tc_vllm.shortest_prompt(tmp_path, "caller")


@pytest.mark.slow
def test_the_script_runs_end_to_end_on_a_tiny_shape(tmp_path):
    """synth, base, data, the five stages, the export and the report, without vLLM (tests/test_vllm.py
    covers serving); a few minutes."""
    results = tmp_path / "report"
    tc.main(["--work", str(tmp_path / "work"), "--results", str(results), "--layers", "1", "--hidden", "128",
             "--synth-n", "40", "--data-root", str(tmp_path / "none"),
             "--steps", "synth", "base", "data", "train", "export", "report"])
    values = json.loads(results.with_suffix(".json").read_text())
    assert set(values["train"]) == set(read_yaml(tc.PRESET)["stages"])
    for stage in values["train"].values():
        assert stage["metrics"]["steps"] == 2 and stage["checkpoint_bytes"] > stage["adapter_bytes"] > 0
    assert {"backbone", "single", "adapters"} <= set(values["export"]["bytes"])
    assert "| stage1_backbone | base |" in results.with_suffix(".md").read_text()
    assert not (tmp_path / "work" / "checkpoint" / ".work").exists()
