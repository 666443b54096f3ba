"""Synthesis: determinism, verification (and what it rejects), chains, recovery, held-out splits."""

from __future__ import annotations

import copy
import json

import pytest

from multiagentllm.data.synth.card import chained, tool_combo
from multiagentllm.data.synth.engine import synthesize
from multiagentllm.data.synth.real import trajectory_from_item
from multiagentllm.data.synth.verify import verify
from multiagentllm.tools.replay import fresh_for, numbers
from multiagentllm.types import Trajectory


@pytest.fixture(scope="module")
def sample():
    trajs, report = synthesize(400, seed=3)
    return trajs, report


def load(d):
    return Trajectory.from_dict(copy.deepcopy(d))


def test_same_seed_same_output_and_different_seed_differs(sample):
    again, _ = synthesize(400, seed=3)
    assert again == sample[0]
    other, _ = synthesize(50, seed=4)
    assert [d["instruction"] for d in other] != [d["instruction"] for d in sample[0][:50]]


def test_workers_do_not_change_the_output(sample):
    parallel, _ = synthesize(400, seed=3, workers=2)
    assert parallel == sample[0]


def test_every_trajectory_is_canonical_and_verified(sample):
    trajs, report = sample
    assert len(trajs) == 400
    for d in trajs:
        t = load(d)
        assert verify(t, fresh_for) is None
        assert 0 <= len(t.calls) <= 5
        assert len({json.dumps(x, sort_keys=True) for x in [d]}) == 1
    fps = {(d["instruction"], json.dumps(d["steps"]), d["answer"]) for d in trajs}
    assert len(fps) == len(trajs)  # de-duplicated


def test_mix_of_kinds(sample):
    trajs, _ = sample
    tags = [t for d in trajs for t in d["meta"]["tags"]]
    assert "recovery" in tags
    assert any(d["outcome"] == "given_up" for d in trajs)
    assert any(d["outcome"] == "solved" and not any(s.get("action") for s in d["steps"]) for d in trajs)
    assert sum(chained(d) for d in trajs) > len(trajs) // 5
    per_instruction = {}
    for d in trajs:
        per_instruction.setdefault(d["instruction"], set()).add(json.dumps(d["steps"]))
    assert any(len(v) >= 2 for v in per_instruction.values())  # several trajectories per instruction
    assert len({d["meta"]["family"] for d in trajs}) >= 20


def test_recovery_retries_after_a_real_tool_error(sample):
    d = next(d for d in sample[0] if "recovery" in d["meta"]["tags"])
    failed = next(i for i, s in enumerate(d["steps"]) if s.get("observation", "").startswith('{"error"'))
    retry = d["steps"][failed + 1]
    assert retry["action"]["name"] == d["steps"][failed]["action"]["name"]
    assert json.loads(d["steps"][failed]["observation"])["error"] in retry["rationale"]


def test_held_out_families_use_tool_combinations_training_never_sees(sample):
    trajs, _ = sample
    test = {tool_combo(d) for d in trajs if d["meta"].get("split") == "test"}
    train = {tool_combo(d) for d in trajs if d["meta"].get("split") != "test"}
    assert test and not (test - {"(none)"}) & train
    assert not {d["instruction"] for d in trajs if d["meta"].get("split") == "test"} & \
        {d["instruction"] for d in trajs if d["meta"].get("split") != "test"}


def test_seed_flight_example_is_synthesised_with_its_pnr(sample):
    d = next(d for d in sample[0] if d["meta"]["family"] == "flight_book" and not d["meta"]["tags"])
    names = [s["action"]["name"] for s in d["steps"] if s.get("action")]
    assert names[-2:] == ["search_flights", "book_flight"] or names[-3:-1] == ["search_flights", "book_flight"]
    booking = json.loads(next(s for s in d["steps"] if s.get("action", {}).get("name") == "book_flight")["observation"])
    assert booking["pnr"] in d["answer"]
    flights = json.loads(next(s for s in d["steps"] if s.get("action", {}).get("name") == "search_flights")["observation"])
    assert booking["price_usd"] == min(f["price_usd"] for f in flights["flights"])  # the cheaper one


def _solved_with_calls(trajs):
    return load(next(d for d in trajs if d["meta"]["family"] == "flight_book" and not d["meta"]["tags"]))


def test_verification_rejects_a_wrong_fact_in_the_answer(sample):
    t = _solved_with_calls(sample[0])
    pnr = json.loads([s for s in t.steps if s.action and s.action.name == "book_flight"][0].observation)["pnr"]
    t.answer = t.answer.replace(pnr, "ZZZZZZ")
    assert verify(t, fresh_for) == "answer misses a fact"


def test_verification_rejects_an_invented_number(sample):
    t = _solved_with_calls(sample[0])
    t.answer += " It costs $123457 extra."
    assert verify(t, fresh_for) == "answer states an ungrounded number"


def test_verification_rejects_a_changed_observation(sample):
    t = _solved_with_calls(sample[0])
    step = next(s for s in t.steps if s.action and s.action.name == "search_flights")
    step.observation = step.observation.replace("price_usd", "price")
    assert verify(t, fresh_for) == "execution does not reproduce the observation"


def test_verification_rejects_a_bad_call_and_a_bad_format(sample):
    t = _solved_with_calls(sample[0])
    t.tools = [dict(x) for x in t.tools]
    # the offered schema demands an argument the call does not give, while the tool accepts it
    for tool in t.tools:
        if tool["name"] == "resolve_date":
            tool["parameters"] = {**tool["parameters"], "properties": {**tool["parameters"]["properties"],
                                  "tz": {"type": "string"}}, "required": ["expression", "tz"]}
    if any(s.action and s.action.name == "resolve_date" for s in t.steps):
        assert verify(t, fresh_for) == "call does not fit the tool schema"
    t2 = _solved_with_calls(sample[0])
    t2.steps = t2.steps[:-1]  # ends on a caller step
    assert verify(t2, fresh_for) == "format"


def test_number_normalisation():
    assert numbers("15,500 JPY and 15500.0") == {"15500"}
    assert numbers("on 2024-06-11 at 17:35") == {"2024", "6", "11", "17", "35"}


def test_real_item_becomes_a_trajectory_with_a_grounded_answer():
    import random

    from multiagentllm.data.loaders import CallItem
    from multiagentllm.tools import ToolRegistry
    from multiagentllm.tools.simulated import SimulatedTool
    from multiagentllm.types import ToolCall

    schema = {"name": "getWaterQuality", "description": "Water quality of a location",
              "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}
    item = CallItem("x-1", "sealtools", "Tell me the water quality of the lake.", [schema],
                    [ToolCall("getWaterQuality", {"location": "lake"})])
    make = lambda *_: _reg(schema)  # noqa: E731

    def _reg(s):
        r = ToolRegistry(default_timeout=None)
        r.register(SimulatedTool(s, {"quality": {"type": "str"}, "ph": {"type": "float"}}))
        return r

    t = trajectory_from_item(item, make(), random.Random(0), "train")
    assert t.outcome == "solved" and t.meta["facts"] and t.meta["facts"][0] in t.answer
    assert verify(t, make) is None
    none = CallItem("x-2", "bfcl", "What is love?", [schema], [])
    g = trajectory_from_item(none, make(), random.Random(0), "test")
    assert g.outcome == "given_up" and g.meta["split"] == "test" and verify(g, make) is None
