"""Step-level evaluation end to end with a scripted model: prompts from the roles, metrics per
group, unparsable outputs counted as wrong with their reason, bad items reported by line."""

import json

import pytest

from multiagentllm.eval.generate import Generator, System
from multiagentllm.eval.benchmarks.static import evaluate_static
from multiagentllm.eval.report import markdown
from multiagentllm.io import DataError
from multiagentllm.roles import caller, planner, summarizer
from multiagentllm.roles.registry import ROLES
from multiagentllm.types import Trajectory

TOOLS = [{"name": "get_weather", "description": "Weather now.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def _traj(i, group, city="Paris"):
    return {"id": f"t{i}", "source": "synthetic", "instruction": f"Weather in {city}?", "tools": TOOLS,
            "steps": [{"rationale": "Look it up.", "next": "caller",
                       "action": {"name": "get_weather", "arguments": {"city": city}},
                       "observation": "{\"temp_c\": 11}"},
                      {"rationale": "Enough.", "next": "summarizer"}],
            "answer": f"It is 11 C in {city}.", "outcome": "solved", "meta": {"group": group}}


@pytest.fixture
def test_file(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [json.dumps(_traj(0, "G1")), json.dumps(_traj(1, "G2", "Rome")), '{"id": "broken"}']
    path.write_text("\n".join(rows) + "\n")
    return path


def _respond(role, prompt):
    if role in ("planner", "single") and prompt.endswith("</s>\n"):
        return "Rationale: I need the weather.\nNext: Caller"
    if role == "planner":
        return "Rationale: Done.\nNext: Summarizer"
    if role == "caller":
        return "Action: get_weather\nAction Input: {\"city\": \"Paris\"}"
    if role == "summarizer":
        return "It is 11 C in Paris."
    return "garbage"


def test_metrics_overall_and_per_group(test_file, scripted):
    llm = scripted(_respond)
    report, records = evaluate_static(test_file, Generator(System(llm), progress=False))
    assert report["n"] == 2
    assert report["bad_items"] == 1 and ":3:" in report["bad_examples"][0]
    # planner: step 0 right (caller) x2, step 1 right (summarizer) x2
    assert report["plan_acc"] == 1.0
    assert report["act_em"] == 1.0 and report["hallu"] == 0.0
    assert report["arg_f1"] == pytest.approx(0.5)  # Paris right, Rome wrong
    assert report["groups"]["G1"]["arg_f1"] == 1.0 and report["groups"]["G2"]["arg_f1"] == 0.0
    assert report["groups"]["G1"]["rouge_l"] == pytest.approx(1.0)
    assert 0 < report["groups"]["G2"]["rouge_l"] < 1
    assert report["counts"] == {"planner": 4, "caller": 2, "summarizer": 2}
    # the caller was prompted with the gold rationale, by the role module itself
    t = Trajectory.from_dict(_traj(0, "G1"))
    assert ("caller", caller.prompt(t.instruction, t.tools, [], "Look it up.")) in llm.prompts
    assert ("planner", planner.prompt(t.instruction, t.tools, t.steps[:1])) in llm.prompts
    assert ("summarizer", summarizer.prompt(t.instruction, t.tools, t.steps)) in llm.prompts
    assert all(n <= 8 for _, n in llm.calls)


def test_unparsable_outputs_count_as_wrong_with_reason(test_file, scripted):
    report, records = evaluate_static(test_file, Generator(System(scripted(lambda r, p: "")), progress=False))
    assert report["plan_acc"] == 0.0 and report["act_em"] == 0.0 and report["rouge_l"] == 0.0
    assert report["hallu"] == 0.0
    assert report["unparsed"] == len(records) == 8
    assert all(r["reason"] for r in records)


def test_single_mode_uses_single_prompts_and_role(test_file, scripted):
    llm = scripted(_respond)
    evaluate_static(test_file, Generator(System(llm, single=True), progress=False), limit=1)
    assert {role for role, _ in llm.calls} == {"single"}
    t = Trajectory.from_dict(_traj(0, "G1"))
    assert ("single", ROLES["single"].prompt("caller", t.instruction, t.tools, [], "Look it up.")) in llm.prompts


def test_hallucinated_tool_name(test_file, scripted):
    def respond(role, prompt):
        return "Action: get_wether\nAction Input: {}" if role == "caller" else _respond(role, prompt)

    report, _ = evaluate_static(test_file, Generator(System(scripted(respond)), progress=False))
    assert report["hallu"] == 1.0 and report["act_em"] == 0.0 and report["arg_f1"] == 0.0


def test_missing_file(tmp_path, scripted):
    with pytest.raises(DataError, match="file not found"):
        evaluate_static(tmp_path / "nope.jsonl", Generator(System(scripted(_respond)), progress=False))


def test_alpha_umi_conversations_format(tmp_path, scripted):
    pytest.importorskip("multiagentllm.data.loaders.alpha_umi")
    record = {"tools": TOOLS, "instruction": "Weather in Paris?", "conversations": [
        {"from": "user", "value": "Weather in Paris?"},
        {"from": "assistant", "value": "Look it up. Next: caller."},
        {"from": "caller", "value": "Action: get_weather\nAction Input: {\"city\": \"Paris\"}"},
        {"from": "observation", "value": "{\"temp_c\": 11}"},
        {"from": "assistant", "value": "Enough. Next: conclusion."},
        {"from": "conclusion", "value": "It is 11 C in Paris."}]}
    path = tmp_path / "test_alpha.json"
    path.write_text(json.dumps([record], indent=1))
    report, _ = evaluate_static(path, Generator(System(scripted(_respond)), progress=False))
    assert report["n"] == 1 and report["counts"] == {"planner": 2, "caller": 1, "summarizer": 1}
    assert report["plan_acc"] == 1.0 and report["arg_f1"] == 1.0 and report["rouge_l"] == pytest.approx(1.0)


def test_alpha_umi_planner_turns_without_next_are_scored_as_calls(tmp_path, scripted):
    """A DFSDT record of the paper's test data: a planner turn with no `Next:` line before a caller
    turn (a call, as the paper's evaluator scores it), a restart prompt before a retry (context,
    not a step); the report says how many records each rule touched."""
    turns = [{"from": "user", "value": "Weather in Paris?"},
             {"from": "assistant", "value": "Look it up."},
             {"from": "caller", "value": "Action: get_weather\nAction Input: {\"city\": \"Paris\"}"},
             {"from": "observation", "value": "{\"error\": \"timeout\"}"},
             {"from": "user", "value": "This is not the first time you try this task, all previous trails failed."},
             {"from": "assistant", "value": "Try again. Next: caller."},
             {"from": "caller", "value": "Action: get_weather\nAction Input: {\"city\": \"Paris\"}"},
             {"from": "observation", "value": "{\"temp_c\": 11}"},
             {"from": "assistant", "value": "Enough. Next: conclusion."},
             {"from": "conclusion", "value": "It is 11 C in Paris."}]
    labelled = [*turns[:1], {"from": "assistant", "value": "Look it up. Next: caller."}, *turns[2:4], *turns[5:]]
    path = tmp_path / "test_alpha.json"
    path.write_text(json.dumps([{"tools": TOOLS, "conversations": turns},
                                {"tools": TOOLS, "conversations": labelled}], indent=1))
    report, records = evaluate_static(path, Generator(System(scripted(_respond)), progress=False))
    assert report["n"] == 2 and report["bad_items"] == 0
    assert report["counts"] == {"planner": 6, "caller": 4, "summarizer": 2}
    assert [r["reference"] for r in records if r["turn"] == "planner" and r["step"] == 0] == ["caller", "caller"]
    assert report["read_rules"]["unlabelled_calls"] == {"records": 1, "turns": 1}
    assert report["read_rules"]["restart_prompts"] == {"records": 1, "turns": 1}
    assert report["read_rules"]["joined_thoughts"] == {"records": 0, "turns": 0}
    assert "unlabelled_calls 1 of 2 (1 turns)" in markdown(report)
