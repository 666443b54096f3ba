"""Gorilla-style AST sub-tree match: reference answers all pass, perturbed ones do not."""

import pytest
from eval_helpers import GORILLA, needs_data

from multiagentllm.data.loaders.apibench import load_apibench
from multiagentllm.eval.benchmarks.apibench import build_database
from multiagentllm.eval.apibench_ast import (
    CORRECT, HALLUCINATION, NO_ANSWER, WRONG, ApiDatabase, extract_code, identifying_args, judge,
)
from multiagentllm.tools.call_syntax import find_calls, toolcall_to_code

DB = [
    {"api_call": "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)", "domain": "Classification"},
    {"api_call": "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18_x', pretrained=True)", "domain": "Detection"},
    {"api_call": "torch.hub.load(repo_or_dir='ultralytics/yolov5', model='yolov5s')", "domain": "Detection"},
    {"api_call": "torch.hub.load(repo_or_dir='ultralytics/yolov5', model='yolov5s')", "domain": "Segmentation"},
]


def test_verdicts_on_hand_made_answers():
    db = ApiDatabase(DB, "torchhub")
    assert judge("torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)", db, "Classification").status == CORRECT
    # keyword order and spacing do not matter; extra arguments are allowed
    assert judge("m = torch.hub.load(model = \"resnet18\", repo_or_dir='pytorch/vision', force_reload=True)",
                 db, "Classification").status == CORRECT
    # the more specific API wins over one whose arguments are a substring of it
    v = judge("torch.hub.load('pytorch/vision', 'resnet18_x')", db, "Classification")
    assert v.status == WRONG and v.matched == 1 and "Detection" in v.reason
    # the same call documented under two domains is right for either
    assert judge("torch.hub.load('ultralytics/yolov5', 'yolov5s')", db, "Segmentation").status == CORRECT
    assert judge("torch.hub.load('pytorch/vision', 'resnet1000')", db, "Classification").status == HALLUCINATION
    assert judge("torch.load('pytorch/vision', 'resnet18')", db, "Classification").status == HALLUCINATION
    assert judge("", db, "Classification").status == NO_ANSWER
    assert judge(None, db, "Classification").status == NO_ANSWER


def test_identifying_arguments_follow_each_hub():
    (call,) = find_calls("f('a', model='b', output_key='c', pretrained=True)")
    assert identifying_args(call, "torchhub") == ["b"]
    assert identifying_args(call, "huggingface") == ["a", "b", "c", "True"]
    assert identifying_args(call, "tensorflowhub") == ["a", "b", "output_key='c", "pretrained=True"]


def test_extract_code_reads_gorilla_output_format():
    text = "<<<domain>>>: Text, <<<api_call>>>: hub.load('https://tfhub.dev/x/4'), <<<api_provider>>>: TF Hub"
    assert extract_code(text) == "hub.load('https://tfhub.dev/x/4')"
    assert extract_code("{'api_call': \"pipeline('ner')\", 'api_provider': 'HF'}") == "pipeline('ner')"
    assert extract_code("  model = X.from_pretrained('a')  ") == "model = X.from_pretrained('a')"


def _perturb(code: str) -> str:
    """Corrupt the first quoted value inside it (a suffix would not do: matching is by substring)."""
    i = code.find("'")
    if i < 0 or code.find("'", i + 2) < 0:
        return code.replace("(", "_zzq(", 1) if "(" in code else "zzq" + code
    return code[: i + 2] + "zzq" + code[i + 2:]


@needs_data
@pytest.mark.parametrize("split", ["torchhub_eval.json", "tensorflow_eval.json", "huggingface_eval.json"])
def test_reference_answers_are_all_correct_and_perturbed_ones_are_not(split):
    path = GORILLA / "data" / "apibench" / split
    items = list(load_apibench(path))
    db = build_database(path, items)
    for item in items:
        for answer in (item.meta["api_call"], toolcall_to_code(item.calls[0])):
            v = judge(answer, db, item.meta["domain"])
            assert v.status == CORRECT, (item.id, answer, v)
    rejected = sum(judge(_perturb(toolcall_to_code(i.calls[0])), db, i.meta["domain"]).status != CORRECT
                   for i in items)
    assert rejected / len(items) > 0.95
