import pytest

from multiagentllm.roles import FormatError, caller, planner, summarizer
from multiagentllm.types import ToolCall


@pytest.mark.parametrize("text, expected", [
    ("Rationale: look it up\nNext: Caller", ("look it up", "caller")),
    ("Rationale: done\nNext: Summarizer\nAction: x", ("done", "summarizer")),
    ("Rationale: no tool fits\nNext: Give up", ("no tool fits", "give_up")),
    ("I should call the API.\nNext: caller.", ("I should call the API.", "caller")),  # alpha-UMi labels
    ("Enough info.\nNext: conclusion.", ("Enough info.", "summarizer")),
    ("Cannot.\nNext: give up.", ("Cannot.", "give_up")),
])
def test_planner_parse(text, expected):
    assert planner.parse(text) == expected


def test_planner_parse_without_decision():
    with pytest.raises(FormatError, match="no 'Next:"):
        planner.parse("Rationale: I will think more")


def test_caller_parse():
    assert caller.parse('Action: get_weather\nAction Input: {"city": "Paris"}\nObservation: x') == \
        ToolCall("get_weather", {"city": "Paris"})
    assert caller.parse("Action: now\nAction Input: ") == ToolCall("now", {})


def test_caller_stops_where_its_parse_stops_reading():
    # what the 135M caller wrote on a BFCL item: the call, then an invented output and a second call
    text = ('Action: algebra.quadratic_roots\nAction Input: {"a": 1, "b": -3, "c": 2}\nAction Output: roots\n'
            'Action Input: {"roots": {"x": 0.5}}')
    cut = min(text.index(s) for s in caller.STOP if s in text)
    assert text[:cut].endswith("}")
    assert caller.parse(text[:cut]) == caller.parse(text) == ToolCall("algebra.quadratic_roots", {"a": 1, "b": -3, "c": 2})


@pytest.mark.parametrize("text, message", [
    ("get_weather(city='Paris')", "no 'Action:"),
    ('Action: get_weather\nAction Input: {"city": Paris}', "not valid JSON"),
    ("Action: get_weather\nAction Input: [1, 2]", "must be a JSON object"),
    ("Action: \nAction Input: {}", "names no tool"),
])
def test_caller_parse_errors(text, message):
    with pytest.raises(FormatError, match=message):
        caller.parse(text)


def test_summarizer_parse():
    assert summarizer.parse("Answer: 42") == "42"
    with pytest.raises(FormatError, match="empty"):
        summarizer.parse("  \n")


def test_targets_parse_back(weather_traj):
    for step in weather_traj.steps:
        assert planner.parse(planner.target(step)) == (step.rationale, step.next)
        if step.action:
            assert caller.parse(caller.target(step.action)) == step.action
