import json

import pytest

from multiagentllm.types import SchemaError, Trajectory, normalize_tool


def base(**over):
    d = {"id": "t", "instruction": "hi", "tools": [{"name": "f", "parameters": {"type": "object", "properties": {}}}],
         "steps": [{"rationale": "r", "next": "caller", "action": {"name": "f", "arguments": {}}, "observation": "ok"},
                   {"rationale": "done", "next": "summarizer"}],
         "answer": "a", "outcome": "solved"}
    d.update(over)
    return d


def test_roundtrip(weather_traj):
    again = Trajectory.from_dict(json.loads(weather_traj.to_json()))
    assert again == weather_traj


@pytest.mark.parametrize("patch, message", [
    ({"steps": [{"rationale": "r", "next": "finish"}]}, "steps[0].next is 'finish'"),
    ({"steps": [{"rationale": "r", "next": "caller", "action": {"name": "g", "arguments": {}}, "observation": "x"},
                {"rationale": "", "next": "summarizer"}]}, "'g' is not in the trajectory's tools"),
    ({"steps": [{"rationale": "r", "next": "caller", "action": {"name": "f", "arguments": "{bad"}, "observation": "x"},
                {"rationale": "", "next": "summarizer"}]}, "not valid JSON"),
    ({"steps": [{"rationale": "r", "next": "caller", "action": {"name": "f"}}]}, "needs an 'observation'"),
    ({"steps": [{"rationale": "r", "next": "summarizer"}, {"rationale": "r", "next": "summarizer"}]}, "more steps follow"),
    ({"steps": [{"rationale": "r", "next": "caller"}]}, "no 'action'"),
    ({"answer": ""}, "needs a non-empty 'answer'"),
    ({"outcome": "given_up"}, "outcome is not 'solved'"),
    ({"steps": []}, "'steps' is empty"),
    ({"tools": [{"name": "f"}, {"name": "f"}]}, "duplicate tool names"),
    ({"instruction": "   "}, "empty 'instruction'"),
])
def test_invalid_trajectories_name_the_field(patch, message):
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        Trajectory.from_dict(base(**patch))


def test_missing_field():
    d = base()
    del d["tools"]
    with pytest.raises(SchemaError, match="missing field 'tools'"):
        Trajectory.from_dict(d)


def test_in_progress_episode_allowed_without_completion():
    d = base(steps=[{"rationale": "r", "next": "caller", "action": {"name": "f", "arguments": {}}}], answer=None)
    t = Trajectory.from_dict(d, check_complete=False)
    assert t.steps[0].observation is None


def test_openai_tool_format_is_normalized():
    tool = normalize_tool({"type": "function", "function": {"name": "f", "description": "d",
                                                            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}})
    assert tool == {"name": "f", "description": "d",
                    "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}
    with pytest.raises(SchemaError, match="non-empty string 'name'"):
        normalize_tool({"description": "no name"})
