"""BFCL loader: type mapping, gold calls from possible answers, bad rows named by file:line."""

import json
import os
from pathlib import Path

import pytest

from multiagentllm.data.loaders import SOURCES
from multiagentllm.data.loaders.bfcl import category_of, convert_function, gold_calls, load_bfcl
from multiagentllm.io import DataError, SkipReport

DATA = Path(os.environ.get("UMI_DATA_ROOT", Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"))
BFCL = DATA / "gorilla/berkeley-function-call-leaderboard/bfcl_eval/data"

FUNC = {"name": "math.area", "description": "Area.", "parameters": {"type": "dict", "properties": {
    "sides": {"type": "tuple", "items": {"type": "float"}}, "opts": {"type": "dict", "properties": {
        "unit": {"type": "string"}}}, "anything": {"type": "any"}, "n": {"type": "integer"}},
    "required": ["sides"]}}


def _write(tmp_path, questions, answers=None, name="BFCL_v4_simple_python.json"):
    q = tmp_path / name
    q.write_text("".join(json.dumps(r) + "\n" for r in questions))
    if answers is not None:
        (tmp_path / "possible_answer").mkdir()
        (tmp_path / "possible_answer" / name).write_text("".join(json.dumps(r) + "\n" for r in answers))
    return q


def _question(i, func=FUNC, text="Area of a 3x4 rectangle?"):
    return {"id": f"simple_python_{i}", "question": [[{"role": "user", "content": text}]], "function": [func]}


def test_types_are_mapped_to_json_schema_and_originals_kept(tmp_path):
    q = _write(tmp_path, [_question(0)], [{"id": "simple_python_0", "ground_truth": [
        {"math.area": {"sides": [[3.0, 4.0]], "n": ["", 2], "opts": [{"unit": ["cm", "m"]}]}}]}])
    (item,) = load_bfcl(q)
    props = item.tools[0]["parameters"]["properties"]
    assert item.tools[0]["parameters"]["type"] == "object"
    assert props["sides"] == {"type": "array", "items": {"type": "number"}}
    assert props["opts"]["type"] == "object" and props["opts"]["properties"]["unit"]["type"] == "string"
    assert "type" not in props["anything"]  # "any": every JSON value
    assert item.meta["bfcl_functions"] == [FUNC]
    assert item.meta["category"] == "simple_python"
    # first acceptable value; "" first means left out; dict alternatives resolved one level down
    assert item.calls[0].name == "math.area"
    assert item.calls[0].arguments == {"sides": [3.0, 4.0], "opts": {"unit": "cm"}}
    assert item.meta["possible_answer"][0]["math.area"]["n"] == ["", 2]


def test_required_parameter_listed_as_optional_still_gets_a_value():
    gt = [{"f": {"a": ["", 25.0], "b": ["", 1], "c": ["x", ""]}}]
    funcs = [{"name": "f", "parameters": {"properties": {"a": {}, "b": {}}, "required": ["a"]}}]
    (call,) = gold_calls(gt, funcs)
    # a: required so its first real value; b: left out; c: undocumented and optional, left out
    assert call.arguments == {"a": 25.0}


def test_irrelevance_has_no_gold_call(tmp_path):
    q = _write(tmp_path, [{"id": "irrelevance_3", "question": [[{"role": "user", "content": "Hi"}]],
                           "function": [FUNC]}], name="BFCL_v4_irrelevance.json")
    (item,) = load_bfcl(q)
    assert item.calls == [] and "possible_answer" not in item.meta
    assert category_of(item.id) == "irrelevance"


@pytest.mark.parametrize("item_id, category", [
    ("simple_python_12", "simple_python"), ("parallel_multiple_3", "parallel_multiple"),
    ("live_simple_0-0-0", "live_simple"), ("live_parallel_multiple_12-3-1", "live_parallel_multiple"),
    ("live_irrelevance_101-4-0", "live_irrelevance"), ("no_number_here", "no_number_here"),
    ("live_simple_0-a-0", "live_simple_0-a-0"), ("42", "42"),
])
def test_category_of_live_and_non_live_ids(item_id, category):
    assert category_of(item_id) == category


def test_bad_rows_name_file_and_line_or_are_counted(tmp_path):
    rows = [_question(0), {"id": "simple_python_1", "question": [], "function": [FUNC]},
            _question(2, func={"name": "g", "parameters": {"type": "dict", "properties": {
                "x": {"type": "complex128"}}}})]
    q = _write(tmp_path, rows)
    with q.open("a") as f:
        f.write("{not json\n")
    with pytest.raises(DataError) as e:
        list(load_bfcl(q))
    assert e.value.line == 2 and str(q) in str(e.value)
    report = SkipReport()
    items = list(load_bfcl(q, skip_bad=True, report=report))
    assert [i.id for i in items] == ["simple_python_0"]
    assert report.skipped == 3
    assert any("complex128" in x for x in report.examples) and any(":4:" in x for x in report.examples)


def test_missing_answer_for_an_id_is_an_error(tmp_path):
    q = _write(tmp_path, [_question(0)], [{"id": "simple_python_9", "ground_truth": []}])
    with pytest.raises(DataError, match="no possible answer"):
        list(load_bfcl(q))


def test_multi_turn_items_are_rejected_clearly(tmp_path):
    row = _question(0)
    row["question"] = [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]
    q = _write(tmp_path, [row])
    with pytest.raises(DataError, match="multi-turn"):
        list(load_bfcl(q))


def test_convert_function_rejects_a_nameless_function():
    with pytest.raises(ValueError, match="name"):
        convert_function({"parameters": {}})


@pytest.mark.skipif(not BFCL.exists(), reason="shared datasets not available")
def test_source_registry_finds_each_single_turn_file_once():
    files = SOURCES["bfcl"].files(DATA)
    names = [p.name for p in files]
    assert len(names) == len(set(names))
    assert {"BFCL_v4_simple_python.json", "BFCL_v4_multiple.json", "BFCL_v4_parallel.json",
            "BFCL_v4_parallel_multiple.json", "BFCL_v4_irrelevance.json"} <= set(names)
    assert not any("java" in n or "multi_turn" in n for n in names)


@pytest.mark.skipif(not BFCL.exists(), reason="shared datasets not available")
def test_shipped_parallel_file_loads_with_answers():
    items = list(load_bfcl(BFCL / "BFCL_v4_parallel.json"))
    assert len(items) == 200
    assert all(len(i.calls) == len(i.meta["possible_answer"]) >= 2 for i in items)
