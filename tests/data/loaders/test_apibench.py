"""APIBench loader: instruction, API as a tool, gold call; the tolerant call scanner."""

import json
import os
from pathlib import Path

import pytest

from multiagentllm.data.loaders.apibench import api_database_path, load_apibench
from multiagentllm.io import DataError, SkipReport
from multiagentllm.tools.call_syntax import find_calls, parse_command, reference_calls, toolcall_to_code

DATA = Path(os.environ.get("UMI_DATA_ROOT", Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"))
GORILLA = DATA / "gorilla" / "data"

ROW = {"code": "###Instruction: Classify sports in videos.\n###Output: {'domain': 'Video Classification'}",
       "api_call": "torch.hub.load(repo_or_dir='facebookresearch/pytorchvideo', model='slow_r50', pretrained=True)",
       "provider": "PyTorch",
       "api_data": {"domain": "Video Classification", "description": "3D ResNet.",
                    "api_call": "torch.hub.load(repo_or_dir='facebookresearch/pytorchvideo', model='slow_r50', pretrained=True)"}}


def _split(tmp_path, rows, name="torchhub_eval.json"):
    (tmp_path / "apibench").mkdir(exist_ok=True)
    (tmp_path / "api").mkdir(exist_ok=True)
    (tmp_path / "api" / "torchhub_api.jsonl").write_text(json.dumps(ROW["api_data"]) + "\n")
    path = tmp_path / "apibench" / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_item_has_instruction_tool_gold_call_and_meta(tmp_path):
    path = _split(tmp_path, [ROW])
    (item,) = load_apibench(path)
    assert item.instruction == "Classify sports in videos."
    assert item.id == "torchhub_eval-1"
    assert item.tools[0]["name"] == "torch.hub.load"
    assert set(item.tools[0]["parameters"]["properties"]) == {"repo_or_dir", "model", "pretrained"}
    assert item.calls[0].arguments == {"repo_or_dir": "facebookresearch/pytorchvideo", "model": "slow_r50",
                                       "pretrained": True}
    assert item.meta["api_call"] == ROW["api_call"] and item.meta["api_data"] == ROW["api_data"]
    assert item.meta["hub"] == "torchhub" and item.meta["in_database"] is True
    assert api_database_path(path) == tmp_path / "api" / "torchhub_api.jsonl"


def test_bad_rows_name_file_and_line_or_are_counted(tmp_path):
    no_call = dict(ROW, api_call="")
    no_instruction = dict(ROW, code="nothing here")
    path = _split(tmp_path, [ROW, "{oops", no_call, no_instruction])
    with pytest.raises(DataError) as e:
        list(load_apibench(path))
    assert e.value.line == 2 and str(path) in str(e.value)
    report = SkipReport()
    assert len(list(load_apibench(path, skip_bad=True, report=report))) == 1
    assert report.skipped == 3
    assert any(":3:" in x and "api_call" in x for x in report.examples)
    assert any(":4:" in x and "Instruction" in x for x in report.examples)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        list(load_apibench(tmp_path / "nope_eval.json"))


def test_scanner_tolerates_what_python_rejects():
    (call,) = find_calls("torch.hub.load(repo_or_dir='szq0214/MEAL-V2', 'meal_v2', model='m', pretrained=True)")
    assert call.name == "torch.hub.load"
    assert call.args == [("repo_or_dir", "'szq0214/MEAL-V2'"), (None, "'meal_v2'"), ("model", "'m'"),
                         ("pretrained", "True")]
    # unclosed call: arguments run to the end; a call inside a string literal is not a call
    (call,) = find_calls("pipeline('fill-mask', model='x(y)'")
    assert call.args == [(None, "'fill-mask'"), ("model", "'x(y)'")]
    # nested calls are found, outer first
    assert [c.name for c in find_calls("tf.keras.Sequential([hub.KerasLayer('u')])")] == [
        "tf.keras.Sequential", "hub.KerasLayer"]
    # a whole call written as a quoted string, and a command line
    assert reference_calls("'A.from_pretrained(x/y)'")[0].name == "A.from_pretrained"
    cmd = parse_command("mlagents-load-from-hf --repo-id='a/b' --local-dir ./d")
    assert cmd.name == "mlagents-load-from-hf" and cmd.args == [("repo-id", "'a/b'"), ("local-dir", "./d")]


def test_toolcall_renders_back_to_code():
    from multiagentllm.types import ToolCall
    assert toolcall_to_code(ToolCall("pipeline", {"model": "m", "task": "ner"})) == "pipeline('ner', 'm')"
    assert toolcall_to_code(ToolCall("pipeline", {"model": "m", "device": 0})) == "pipeline(model='m', device=0)"
    assert toolcall_to_code(ToolCall("torch.hub.load", {"repo_or_dir": "r", "model": "m", "arg0": "x"})) == \
        "torch.hub.load('r', 'm', 'x')"
    assert toolcall_to_code(ToolCall("X.from_pretrained", {"pretrained_model_name_or_path": "a/b"})) == \
        "X.from_pretrained('a/b')"
    assert toolcall_to_code(ToolCall("run-it", {"repo-id": "a/b"})) == "run-it --repo-id=a/b"


@pytest.mark.skipif(not GORILLA.exists(), reason="shared datasets not available")
def test_every_shipped_split_loads_completely():
    counts = {p.name: len(list(load_apibench(p))) for p in sorted((GORILLA / "apibench").glob("*.json"))}
    assert counts == {"huggingface_eval.json": 911, "tensorflow_eval.json": 688,
                      "torchhub_eval.json": 186, "torchhub_train.json": 837}
