"""Judged (not executed) episodes run by the runtime's loop and policy: retries instead of ending
at a format error, the call cap, and the same episodes whether run in batches or one at a time."""

import re

import pytest

from multiagentllm.eval.episodes import NOT_EXECUTED, Batcher, Task, run_episodes
from multiagentllm.eval.generate import Generator, System

TOOLS = [{"name": "add", "description": "Add two numbers.",
          "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                         "required": ["a", "b"]}}]


def _respond(role, prompt):
    """Item k makes k calls, then answers. Item 'vague': the first planner output has no decision.
    Item 'flaky': the caller's first output does not parse. Item 'junk': the caller never writes a call."""
    item = re.search(r"<s> item (\w+) </s>", prompt).group(1)
    made = prompt.count(NOT_EXECUTED)
    if role == "planner":
        if prompt.endswith("Next:"):  # the runtime's retry: only the decision is asked for
            return " Caller"
        if item == "vague" and "Action:" not in prompt:
            return "I should add the numbers."
        want = int(item) if item.isdigit() else 1
        return "Rationale: go on\nNext: " + ("Caller" if made < want else "Summarizer")
    if role == "caller":
        if item == "junk" or (item == "flaky" and '"error"' not in prompt):
            return "no call here"
        return f'Action: add\nAction Input: {{"a": {made}, "b": 1}}'
    return f"Answer:\nitem {item} done"


@pytest.mark.parametrize("batch", [8, 1])
def test_format_errors_are_retried_as_the_runtime_does_in_batches_or_one_at_a_time(scripted, batch):
    keys = ("2", "vague", "flaky", "0", "junk")
    llm = scripted(_respond)
    episodes = run_episodes(Generator(System(llm), batch_size=batch, progress=False),
                            [Task(k, f"item {k}", TOOLS) for k in keys], max_calls=3)
    # The separate loop this replaces ended 'vague' and 'flaky' at their first format error.
    assert [e.end for e in episodes] == ["solved", "solved", "solved", "solved", "format_error"]
    assert [len(e.calls) for e in episodes] == [2, 1, 1, 0, 0]
    assert [c.arguments for c in episodes[0].calls] == [{"a": 0, "b": 1}, {"a": 1, "b": 1}]
    assert episodes[0].answer == "item 2 done" and episodes[4].answer is None
    assert episodes[1].errors[0].startswith("planner:") and episodes[2].errors[0].startswith("caller:")
    assert [o["role"] for o in episodes[2].outputs] == ["planner", "caller", "planner", "caller", "planner",
                                                        "summarizer"]
    assert len(episodes[4].errors) == 4 and "3 unparseable outputs in a row" in episodes[4].errors[-1]
    assert episodes[4].faults["caller_outputs"] == 3 and episodes[4].faults["unparsed"] == 3
    if batch == 1:  # one item after another: each role's prompts extend each other
        items = [re.search(r"<s> item (\w+) </s>", p).group(1) for _, p in llm.prompts]
        assert items == sorted(items, key=keys.index) and {n for _, n in llm.calls} == {1}
    else:  # every episode's first planner turn in one batch
        assert llm.calls[0] == ("planner", len(keys))


def test_the_call_cap_ends_an_episode_after_its_last_call(scripted):
    llm = scripted(_respond)
    (episode,) = run_episodes(Generator(System(llm), batch_size=1, progress=False), [Task("5", "item 5", TOOLS)],
                              max_calls=2)
    assert episode.end == "max_calls" and len(episode.calls) == 2 and episode.answer is None
    assert [o["role"] for o in episode.outputs] == ["planner", "caller", "planner", "caller"]


def test_a_rerun_reads_every_output_from_the_cache(scripted, tmp_path):
    tasks = [Task(k, f"item {k}", TOOLS) for k in ("2", "vague")]
    first = Generator(System(scripted(_respond)), cache=tmp_path / "c.jsonl", batch_size=4, progress=False)
    run_episodes(first, tasks, max_calls=3)
    llm = scripted(_respond)
    again = Generator(System(llm), cache=tmp_path / "c.jsonl", batch_size=4, progress=False)
    episodes = run_episodes(again, tasks, max_calls=3)
    assert not llm.prompts and again.generated == 0 and again.reused == first.generated > 0
    assert [e.end for e in episodes] == ["solved", "solved"]


def test_a_model_error_reaches_every_waiting_episode(scripted):
    def broken(role, prompt):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        run_episodes(Generator(System(scripted(broken)), batch_size=4, progress=False),
                     [Task(k, f"item {k}", TOOLS) for k in ("1", "2", "3")], max_calls=3)


def test_a_batcher_with_one_agent_sends_its_prompts_at_once(scripted):
    llm = scripted(lambda role, p: f"{role}:{p}")
    batcher = Batcher(llm, running=1)
    assert batcher.complete(["a", "b"], role="planner", max_new_tokens=8, stop=["\n"]) == ["planner:a", "planner:b"]
    assert llm.calls == [("planner", 2)]
