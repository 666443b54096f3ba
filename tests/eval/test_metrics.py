"""The paper's step-level metrics on hand-made cases, edge cases included."""

import pytest

from multiagentllm.eval.metrics import (
    action_em, argument_f1, hallucinated, mean, normalize_value, plan_correct, rouge_l,
)
from multiagentllm.types import ToolCall


def test_plan_accuracy():
    assert plan_correct("caller", "caller") == 1.0
    assert plan_correct("summarizer", "caller") == 0.0
    assert plan_correct(None, "give_up") == 0.0  # no parsable decision


def test_action_em_and_hallucination():
    gold = ToolCall("get_weather", {"city": "Paris"})
    assert action_em(ToolCall("get_weather", {}), gold) == 1.0  # name only: arguments are Arg. F1's job
    assert action_em(ToolCall("get_time", {"city": "Paris"}), gold) == 0.0
    assert action_em(None, gold) == 0.0
    offered = ["get_weather", "get_time"]
    assert hallucinated(ToolCall("get_time", {}), offered) == 0.0
    assert hallucinated(ToolCall("get_wether", {}), offered) == 1.0
    assert hallucinated(None, offered) == 0.0  # no call is wrong, but names no tool


def test_argument_f1_pairs_order_and_partial_credit():
    gold = {"city": "Paris", "unit": "c", "days": 3}
    assert argument_f1({"days": 3, "unit": "c", "city": "Paris"}, gold) == 1.0  # order is irrelevant
    # 2 of 3 right, nothing extra: P = 1, R = 2/3
    assert argument_f1({"city": "Paris", "unit": "c"}, gold) == pytest.approx(0.8)
    # one wrong value, one extra key: P = 2/4, R = 2/3
    assert argument_f1({"city": "Paris", "unit": "f", "days": 3, "lang": "en"}, gold) == pytest.approx(4 / 7)
    assert argument_f1({"town": "Paris"}, gold) == 0.0  # same value, other key: not a pair match


def test_argument_f1_empty_and_missing():
    assert argument_f1({}, {}) == 1.0  # a call with no arguments, rightly
    assert argument_f1({"x": 1}, {}) == 0.0
    assert argument_f1({}, {"x": 1}) == 0.0
    assert argument_f1(None, {}) == 0.0  # unparsed output scores nothing


def test_numeric_types():
    assert argument_f1({"n": 1.0}, {"n": 1}) == 1.0
    assert argument_f1({"n": "1"}, {"n": 1}) == 1.0
    assert argument_f1({"n": " 1.50 "}, {"n": 1.5}) == 1.0
    assert argument_f1({"n": True}, {"n": 1}) == 0.0  # booleans are not numbers
    assert argument_f1({"n": "one"}, {"n": 1}) == 0.0
    assert argument_f1({"n": "nan"}, {"n": "nan"}) == 1.0
    assert normalize_value([1, "2"]) == normalize_value([1.0, 2])
    assert normalize_value({"b": 1, "a": [True]}) == normalize_value({"a": [True], "b": 1.0})
    assert normalize_value(None) != normalize_value(0) and normalize_value(False) != normalize_value(0)


def test_rouge_l():
    assert rouge_l("The weather in Paris is 11 C.", "The weather in Paris is 11 C.") == pytest.approx(1.0)
    partial = rouge_l("Paris is 11 degrees", "The weather in Paris is 11 degrees today")
    assert 0.0 < partial < 1.0
    assert rouge_l(None, "anything") == 0.0
    assert rouge_l("   ", "anything") == 0.0
    assert rouge_l("completely unrelated words", "The weather in Paris") == 0.0


def test_mean_of_nothing_is_not_measured():
    assert mean([]) is None
    assert mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
