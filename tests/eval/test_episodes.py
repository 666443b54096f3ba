"""Judged (not executed) episodes: lockstep batches, or one item after another for prefix reuse."""

import re

import pytest

from multiagentllm.eval.episodes import Task, run_episodes
from multiagentllm.eval.generate import Generator, System

TOOLS = [{"name": "add", "description": "Add two numbers.",
          "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                         "required": ["a", "b"]}}]


def _respond(role, prompt):
    """Item k makes k calls, then summarizes; item 'bad' gets an unparsable caller output."""
    item = re.search(r"<s> item (\w+) </s>", prompt).group(1)
    made = prompt.count("\nAction: ")
    if role == "planner":
        want = 1 if item == "bad" else int(item)
        return "Rationale: go on\nNext: " + ("Caller" if made < want else "Summarizer")
    if role == "caller":
        return "no call here" if item == "bad" else f'Action: add\nAction Input: {{"a": {made}, "b": 1}}'
    return f"Answer:\nitem {item} done"


@pytest.mark.parametrize("batch", [8, 1])
def test_episodes_end_the_same_in_lockstep_and_one_at_a_time(scripted, batch):
    tasks = [Task(k, f"item {k}", TOOLS) for k in ("2", "bad", "0", "1")]
    llm = scripted(_respond)
    episodes = run_episodes(Generator(System(llm), batch_size=batch, progress=False), tasks,
                            max_calls=3, summarize=True)
    assert [e.end for e in episodes] == ["summarizer", "format_error", "summarizer", "summarizer"]
    assert [len(e.calls) for e in episodes] == [2, 0, 0, 1]
    assert [c.arguments for c in episodes[0].calls] == [{"a": 0, "b": 1}, {"a": 1, "b": 1}]
    assert episodes[0].answer == "item 2 done" and episodes[1].answer is None
    assert "caller" in episodes[1].errors[0]
    items = [re.search(r"<s> item (\w+) </s>", p).group(1) for _, p in llm.prompts]
    if batch == 1:  # every prompt of one item before the next item's: each role's prompts extend each other
        assert items == sorted(items, key=["2", "bad", "0", "1"].index)
        assert {n for _, n in llm.calls} == {1}
    else:  # rounds: the first planner batch holds every item
        assert sorted(items[:4]) == ["0", "1", "2", "bad"] and llm.calls[0] == ("planner", 4)
