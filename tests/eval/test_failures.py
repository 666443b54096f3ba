"""Failure analysis on hand-written items of every benchmark kind: each category is reached by the
rule that names it, and the command writes the report for a run folder."""

import json

import pytest
from typer.testing import CliRunner

from multiagentllm.agent.faults import call_key
from multiagentllm.cli import app
from multiagentllm.eval.failures import (
    CATEGORIES, Reference, analyse, analyse_items, classify_apibench, classify_bfcl, classify_episode,
    classify_static, kind_of,
)

NO_FAULTS = {"caller_outputs": 1, "unparsed": 0, "invalid_json": 0, "not_offered": 0, "missing_required": 0,
             "repeated_calls": 0, "repeated_failing": 0, "stuck": 0, "ungrounded": 0}
WEATHER = {"name": "get_weather", "arguments": {"city": "Oslo"}}


def episode(status="solved", reason="answer misses a fact", calls=(WEATHER,), **faults):
    return {"id": "t1", "group": "weather_city", "passed": False, "reason": reason, "status": status,
            "answer": "It is sunny.", "calls": list(calls), "faults": {**NO_FAULTS, **faults}}


def reference(*calls, outcome="solved"):
    return Reference(tuple((c["name"], call_key(c["name"], c["arguments"])) for c in calls), outcome)


@pytest.mark.parametrize("item, ref, category", [
    (episode("format_error", "ended 'format_error', the task needs 'solved'"), None, "format"),
    (episode(invalid_json=1), None, "format"),
    (episode(repeated_calls=1, repeated_failing=1), None, "ignored_error"),
    (episode(repeated_calls=2), None, "repeated_call"),
    (episode("stuck", "ended 'stuck', the task needs 'solved'"), None, "repeated_call"),
    (episode("needs_input", "ended 'needs_input', the task needs 'solved'"), None, "stopped_early"),
    (episode(), reference(WEATHER, {"name": "convert_units", "arguments": {"value": 1}}), "stopped_early"),
    (episode(not_offered=1), None, "wrong_tool"),
    (episode(calls=[{"name": "get_time", "arguments": {}}]), reference(WEATHER), "wrong_tool"),
    (episode(missing_required=1), None, "wrong_argument"),
    (episode(calls=[{"name": "get_weather", "arguments": {"city": "Bergen"}}]), reference(WEATHER), "wrong_argument"),
    (episode(), reference(WEATHER), "answer_misses_fact"),
    (episode(), None, "answer_misses_fact"),
    (episode("ungrounded", "ended 'ungrounded', the task needs 'solved'"), reference(WEATHER), "answer_misses_fact"),
    (episode(reason="ended 'solved', the task needs 'given_up'"), reference(WEATHER, outcome="given_up"), "other"),
    (episode("max_steps", "ended 'max_steps', the task needs 'solved'"), reference(WEATHER), "other"),
])
def test_episode_rules(item, ref, category):
    assert classify_episode(item, ref).category == category


def test_an_item_without_fault_counts_finds_repeats_in_its_calls():
    item = episode(calls=[WEATHER, WEATHER])
    del item["faults"]  # the v1 suite wrote none
    assert classify_episode(item).category == "repeated_call"
    assert classify_episode(episode(calls=[WEATHER, {"name": "get_weather", "arguments": {"city": "Rome"}}])
                            ).category == "answer_misses_fact"


def bfcl(error_type, reason, calls=({"f": {"x": 1}},), end="summarizer"):
    return {"id": "simple_1", "category": "simple_python", "calls": list(calls), "valid": False,
            "error_type": error_type, "reason": reason, "end": end, "faults": dict(NO_FAULTS)}


@pytest.mark.parametrize("item, category", [
    (bfcl("wrong_count", "expected 1 call(s), got 0; caller: Action Input for 'f' is not valid JSON", [],
          end="format_error"), "format"),
    (bfcl("wrong_count", "expected 1 call(s), got 0", []), "stopped_early"),
    (bfcl("wrong_count", "expected 1 call(s), got 2", [{"f": {"x": 1}}, {"f": {"x": 2}}]), "repeated_call"),
    (bfcl("wrong_count", "expected 1 call(s), got 2", [{"f": {"x": 1}}, {"g": {}}]), "wrong_tool"),
    (bfcl("wrong_func_name", "function 'f' not called (got ['g'])"), "wrong_tool"),
    (bfcl("irrelevance", "made 1 call(s) where none fits"), "wrong_tool"),
    (bfcl("value_error:string", "'x': 'a' is not one of ['b']"), "wrong_argument"),
    (bfcl("missing_optional", "parameter 'unit' left out but it has no default"), "wrong_argument"),
    (bfcl("unsupported_type", "'x': type 'tuple' is not a Python BFCL type"), "other"),
])
def test_bfcl_rules(item, category):
    assert classify_bfcl(item).category == category


@pytest.mark.parametrize("status, end, category", [
    ("no_answer", "format_error", "format"), ("hallucination", "max_calls", "wrong_argument"),
    ("wrong", "summarizer", "wrong_tool"), ("no_answer", "summarizer", "stopped_early"),
])
def test_apibench_rules(status, end, category):
    item = {"id": "torchhub_eval-1", "hub": "torchhub", "answer": "torch.hub.load('a/b', 'c')", "status": status,
            "reason": "why", "reference": "torch.hub.load('x/y', 'z')", "end": end, "outputs": []}
    assert classify_apibench(item).category == category


PLANNER = {"id": "s1", "step": 0, "turn": "planner", "group": "bfcl", "output": "Next: Summarizer"}
CALLER = {"id": "s1", "step": 0, "turn": "caller", "group": "bfcl", "output": "Action: f",
          "reference": {"name": "f", "arguments": {"x": 1}}}


@pytest.mark.parametrize("item, category", [
    ({**PLANNER, "reason": "planner output has no 'Next:' line", "plan_acc": 0.0}, "format"),
    ({**PLANNER, "predicted": "summarizer", "reference": "caller", "plan_acc": 0.0}, "stopped_early"),
    ({**PLANNER, "predicted": "caller", "reference": "summarizer", "plan_acc": 0.0}, "other"),
    ({**CALLER, "predicted": {"name": "g", "arguments": {}}, "act_em": 0.0, "hallu": 1.0, "arg_f1": 0.0}, "wrong_tool"),
    ({**CALLER, "predicted": {"name": "f", "arguments": {"x": 2}}, "act_em": 1.0, "hallu": 0.0, "arg_f1": 0.5},
     "wrong_argument"),
])
def test_static_rules(item, category):
    assert classify_static(item).category == category


def test_every_category_is_reachable_and_items_that_pass_are_not_counted():
    items = [episode("format_error"), episode(repeated_calls=1, repeated_failing=1), episode(repeated_calls=1),
             episode("given_up", "ended 'given_up', the task needs 'solved'"), episode(not_offered=1),
             episode(missing_required=1), episode(), episode("max_steps", "ended 'max_steps', the task needs 'solved'"),
             {**episode(), "passed": True, "reason": ""}]
    result = analyse_items(items)
    assert result["kind"] == "episode" and result["items"] == 9 and result["failed"] == 8
    assert all(result["categories"][c]["count"] == 1 for c in CATEGORIES)
    assert result["categories"]["format"]["groups"] == {"weather_city": 1}
    summarizer = {**PLANNER, "turn": "summarizer", "rouge_l": 0.1}
    assert kind_of(summarizer) == "static" and analyse_items([summarizer])["failed"] == 0


def test_examples_are_two_per_category():
    result = analyse_items([episode() for _ in range(5)])
    cat = result["categories"]["answer_misses_fact"]
    assert cat["count"] == 5 and len(cat["examples"]) == 2 and cat["examples"][0]["answer"] == "It is sunny."


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def run_folder(tmp_path):
    """A suite folder with a pass-rate run whose task file sits under a data root, and a BFCL run."""
    data_root, results = tmp_path / "root", tmp_path / "results"
    (data_root / "out").mkdir(parents=True)
    results.mkdir()
    tasks = data_root / "out" / "tasks.jsonl"
    write_jsonl(tasks, [{"id": "t1", "outcome": "solved", "steps": [
        {"rationale": "Look.", "next": "caller", "action": WEATHER, "observation": "{}"},
        {"rationale": "Done.", "next": "summarizer"}]}])
    write_jsonl(results / "passrate-alpha-umi.items.jsonl",
                [episode(calls=[{"name": "get_time", "arguments": {}}])])
    (results / "passrate-alpha-umi.json").write_text(json.dumps({
        "benchmark": "passrate", "data": ["out/tasks.jsonl"], "settings": {"data": [{"size": tasks.stat().st_size}]}}))
    write_jsonl(results / "bfcl_simple-alpha-umi.items.jsonl", [bfcl("wrong_func_name", "function 'f' not called")])
    write_jsonl(results / "bfcl_simple-single.items.jsonl", [bfcl("irrelevance", "made 1 call(s) where none fits")])
    return results, data_root


def test_reference_calls_are_read_from_the_task_file(run_folder):
    results, data_root = run_folder
    with_refs = analyse(results, data_root=data_root)["benchmarks"]["passrate"]
    assert with_refs["references"] == "out/tasks.jsonl" and with_refs["references_found"] == 1
    assert with_refs["categories"]["wrong_tool"]["count"] == 1
    without = analyse(results, data_root=data_root / "elsewhere")["benchmarks"]["passrate"]
    assert without["references"] is None and without["categories"]["answer_misses_fact"]["count"] == 1


def test_command_writes_markdown_and_json(run_folder):
    results, data_root = run_folder
    out = CliRunner().invoke(app, ["eval", "failures", str(results), "--data-root", str(data_root)])
    assert out.exit_code == 0, out.output
    report = json.loads((results / "failures.json").read_text())
    assert list(report["benchmarks"]) == ["passrate", "bfcl_simple"] and report["system"] == "alpha-umi"  # suite order
    md = (results / "failures.md").read_text()
    assert "| passrate | 1 | 1 |" in md and "wrong tool: `t1` (weather_city): called get_time instead of get_weather" in md
    out = CliRunner().invoke(app, ["eval", "failures", str(results), "--system", "single"])
    assert out.exit_code == 0 and (results / "failures-single.md").is_file()
    single = json.loads((results / "failures-single.json").read_text())
    assert list(single["benchmarks"]) == ["bfcl_simple"]
    assert single["benchmarks"]["bfcl_simple"]["categories"]["wrong_tool"]["examples"][0]["why"] == \
        "made 1 call(s) where none fits"
    assert CliRunner().invoke(app, ["eval", "failures", str(results), "--system", "base"]).exit_code != 0
