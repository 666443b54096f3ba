"""APIBench and BFCL runners end to end with scripted models (same path for both systems)."""

import json
import re

import pytest
from eval_helpers import BFCL, GORILLA, needs_data

from multiagentllm.agent import AgentConfig
from multiagentllm.eval.benchmarks.apibench import evaluate_apibench, hub_tools, build_database
from multiagentllm.eval.benchmarks.bfcl import evaluate_bfcl
from multiagentllm.eval.generate import Generator, System
from multiagentllm.data.loaders.apibench import load_apibench

TORCH = GORILLA / "data" / "apibench" / "torchhub_eval.json"


def _gold_torch_answers():
    """question instruction -> the reference call's JSON arguments."""
    return {i.instruction: i.calls[0].arguments for i in load_apibench(TORCH)}


def _instruction(prompt: str) -> str:
    return re.search(r"<s> (.*?) </s>\n", prompt, re.S).group(1)


@needs_data
def test_apibench_caller_answers_are_judged_per_hub(scripted):
    gold = _gold_torch_answers()

    def respond(role, prompt):
        if not prompt.endswith("Next: Caller\n"):  # a planner turn (the single model plays both)
            if "Action:" in prompt.split("</s>")[-1]:
                return "Rationale: done\nNext: Summarizer"
            return "Rationale: load the model\nNext: Caller"
        args = dict(gold[_instruction(prompt)])
        if "video" in prompt.lower():  # one kind of question answered with a made-up model
            args["model"] = "no_such_model_xyz"
        return f"Action: torch.hub.load\nAction Input: {json.dumps(args)}"

    for single in (False, True):
        llm = scripted(respond)
        report, records = evaluate_apibench([TORCH], Generator(System(llm, single=single), progress=False), limit=20)
        assert report["n"] == 20 and set(report["groups"]) == {"torchhub"}
        wrong = [r for r in records if r["status"] != "correct"]
        assert all(r["status"] == "hallucination" for r in wrong)
        assert report["hallucination"] == pytest.approx(len(wrong) / 20) and len(wrong) == 1  # the one video question
        assert report["accuracy"] == pytest.approx(1 - len(wrong) / 20)
        assert {r for r, _ in llm.calls} == ({"single"} if single else {"planner", "caller"})
        # tools offered: the hub's call forms, never the question's own entry
        assert "- torch.hub.load" in llm.prompts[0][1]


@needs_data
def test_apibench_summarizer_answer_and_unparsable_outputs(scripted):
    def respond(role, prompt):
        if role == "planner":
            return "Rationale: I know it\nNext: Summarizer"
        return ("<<<api_call>>>: torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True), "
                "<<<api_provider>>>: PyTorch")

    report, records = evaluate_apibench([TORCH], Generator(System(scripted(respond)), progress=False), limit=5)
    assert all(r["answer"].startswith("torch.hub.load(") for r in records)
    assert report["hallucination"] == 0.0 and report["no_answer"] == 0.0
    report, records = evaluate_apibench([TORCH], Generator(System(scripted(lambda r, p: "???")), progress=False), limit=3)
    assert report["accuracy"] == 0.0 and report["no_answer"] == 1.0
    assert all("planner" in r["reason"] for r in records)


@needs_data
def test_hub_tools_are_the_common_call_forms():
    items = list(load_apibench(TORCH))
    tools = hub_tools(build_database(TORCH, items))
    assert [t["name"] for t in tools] == ["torch.hub.load"]
    assert {"repo_or_dir", "model", "pretrained"} <= set(tools[0]["parameters"]["properties"])


def _bfcl_responder(gold_by_instruction, mutate=None):
    """Planner: Caller until as many calls as the reference were made; caller: the next one."""
    def respond(role, prompt):
        if role == "summarizer":  # the runtime answers after the planner chose Summarizer
            return "Answer:\ndone"
        calls = gold_by_instruction[_instruction(prompt)]
        made = prompt.count("\nAction: ")
        if role == "planner":
            return "Rationale: next\nNext: " + ("Caller" if made < len(calls) else "Summarizer")
        name, args = calls[made]
        if mutate:
            args = mutate(args)
        return f"Action: {name}\nAction Input: {json.dumps(args)}"
    return respond


@needs_data
@pytest.mark.parametrize("category", ["simple_python", "parallel_multiple"])
def test_bfcl_runner_scores_reference_calls_right_and_wrong_ones_wrong(category, scripted):
    from multiagentllm.data.loaders.bfcl import load_bfcl

    path = BFCL / f"BFCL_v4_{category}.json"
    gold = {i.instruction: [(c.name, c.arguments) for c in i.calls] for i in load_bfcl(path)}
    report, records = evaluate_bfcl(path, Generator(System(scripted(_bfcl_responder(gold))), progress=False), limit=15)
    assert report["n"] == 15 and report["accuracy"] == 1.0, [r for r in records if not r["valid"]][:2]
    assert report["groups"][category]["accuracy"] == 1.0
    junk = _bfcl_responder(gold, mutate=lambda a: {**a, "zz_unexpected": 1})
    report, records = evaluate_bfcl(path, Generator(System(scripted(junk)), progress=False), limit=15)
    assert report["accuracy"] == 0.0 and all(r["reason"] for r in records)


@needs_data
def test_bfcl_irrelevance_and_call_cap(scripted):
    path = BFCL / "BFCL_v4_irrelevance.json"
    quiet = lambda role, p: "Rationale: no tool fits\nNext: Give up"  # noqa: E731
    report, _ = evaluate_bfcl(path, Generator(System(scripted(quiet)), progress=False), limit=5)
    assert report["accuracy"] == 1.0

    def eager(role, prompt):
        if role == "planner":
            return "Rationale: call\nNext: Caller"
        name = re.search(r"\n- ([^:\s]+)", prompt).group(1)
        return f"Action: {name}\nAction Input: {{}}"

    unguarded = System(scripted(eager), agent=AgentConfig(loop_guard=False))
    report, records = evaluate_bfcl(path, Generator(unguarded, progress=False), limit=3, max_calls=2)
    assert report["accuracy"] == 0.0
    assert all(len(r["calls"]) == 2 and r["end"] == "max_calls" for r in records)
    assert report["faults"]["repeated_calls"] == 3
    # With the runtime's loop guard, the identical second call is refused and a third one ends the
    # episode with an answer from what was observed (the call that was recorded).
    report, records = evaluate_bfcl(path, Generator(System(scripted(eager)), progress=False), limit=3, max_calls=2)
    assert all(len(r["calls"]) == 1 and r["end"] == "solved" for r in records)
    assert all([o["role"] for o in r["outputs"]][-1] == "summarizer" for r in records)
    assert report["faults"]["repeated_calls"] == 6 and report["faults"]["caller_outputs"] == 9


def test_bfcl_needs_answers_for_scored_categories(tmp_path, scripted):
    q = tmp_path / "BFCL_v4_simple_python.json"
    q.write_text(json.dumps({"id": "simple_python_0", "question": [[{"role": "user", "content": "x"}]],
                             "function": [{"name": "f", "parameters": {"type": "dict", "properties": {}}}]}) + "\n")
    with pytest.raises(FileNotFoundError, match="--answers"):
        evaluate_bfcl(q, Generator(System(scripted(lambda r, p: "")), progress=False))


def test_bfcl_live_items_are_grouped_by_category(tmp_path, scripted):
    """Live files number items `live_simple_<i>-<j>-<k>`; the report groups them by category, as
    it does `simple_python_<i>`, not one group per item."""
    from multiagentllm.data.loaders.bfcl import load_bfcl

    func = {"name": "get_weather", "description": "Weather.", "parameters": {"type": "dict", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}
    cities = ["Paris", "Oslo", "Lima"]
    ids = [f"live_simple_{i}-{i}-0" for i in range(len(cities))]
    q = tmp_path / "BFCL_v4_live_simple.json"
    q.write_text("".join(json.dumps({"id": i, "question": [[{"role": "user", "content": f"Weather in {c}?"}]],
                                     "function": [func]}) + "\n" for i, c in zip(ids, cities)))
    (tmp_path / "possible_answer").mkdir()
    (tmp_path / "possible_answer" / q.name).write_text("".join(
        json.dumps({"id": i, "ground_truth": [{"get_weather": {"city": [c]}}]}) + "\n" for i, c in zip(ids, cities)))
    gold = {i.instruction: [(c.name, c.arguments) for c in i.calls] for i in load_bfcl(q)}
    wrong_city = lambda a: {"city": "Rome"} if a["city"] == "Lima" else a  # noqa: E731
    report, records = evaluate_bfcl(q, Generator(System(scripted(_bfcl_responder(gold, wrong_city))), progress=False))
    assert report["groups"] == {"live_simple": {"n": 3, "accuracy": pytest.approx(2 / 3)}}
    assert [r["category"] for r in records] == ["live_simple"] * 3
    assert [r["id"] for r in records] == ids
