"""Reading chat messages into an episode, and checking tool definitions (pure functions)."""

import pytest

from multiagentllm.serve.config import ServeConfig
from multiagentllm.serve.conversation import check_tools, parse_conversation
from multiagentllm.serve.errors import APIError
from multiagentllm.serve.protocol import ChatMessage

CONFIG = ServeConfig()


def msgs(*items):
    return [ChatMessage.model_validate(m) for m in items]


def call(id_, name, args='{"a": 1}'):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": args}}


def test_history_becomes_steps_with_rationales_and_observations():
    conv = parse_conversation(msgs(
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "add "}, {"type": "text", "text": "1 and 2"}]},
        {"role": "assistant", "content": "Rationale: add them\nNext: Caller", "tool_calls": [call("c1", "add")]},
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
        {"role": "assistant", "content": "Rationale: done\nNext: Summarizer"},
    ), CONFIG)
    assert conv.instruction == "add 1 and 2"
    assert [(c.rationale, c.call.name, c.call.arguments, c.observation) for c in conv.calls] == \
        [("add them", "add", {"a": 1}, "3")]
    assert (conv.pending, conv.pending_next) == ("done", "summarizer")


def test_a_bare_rationale_has_no_decision_and_the_last_user_message_is_the_instruction():
    conv = parse_conversation(msgs({"role": "user", "content": "old question"},
                                   {"role": "assistant", "content": "old answer"},
                                   {"role": "user", "content": "new question"},
                                   {"role": "assistant", "content": "look it up"}), CONFIG)
    assert conv.instruction == "new question" and conv.pending == "look it up"
    assert conv.pending_next is None and conv.calls == []


@pytest.mark.parametrize("messages, fragment", [
    ([{"role": "system", "content": "x"}], "no user message"),
    ([{"role": "user", "content": "  "}], "is empty"),
    ([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}],
     "which no earlier assistant message called"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("c1", "add")]}],
     "have no tool message"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
      {"role": "assistant", "content": "b"}], "may only be the last message"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("c1", "add", "{bad")]}],
     "not valid JSON"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("c1", "add", "[1]")]}],
     "must be a JSON object"),
    ([{"role": "user", "content": "q"},
      {"role": "assistant", "tool_calls": [call("c1", "add"), call("c1", "add")]}], "duplicate id"),
])
def test_conversations_that_do_not_fit_together_are_400(messages, fragment):
    with pytest.raises(APIError) as e:
        parse_conversation(msgs(*messages), CONFIG)
    assert e.value.status == 400 and fragment in e.value.message


def test_over_long_conversations_are_413():
    with pytest.raises(APIError) as e:
        parse_conversation(msgs({"role": "user", "content": "x" * 50}), ServeConfig(max_input_chars=10))
    assert e.value.status == 413 and e.value.code == "context_length_exceeded"
    with pytest.raises(APIError) as e:
        parse_conversation(msgs(*[{"role": "user", "content": "x"}] * 3), ServeConfig(max_messages=2))
    assert e.value.status == 413


def fn(**function):
    return {"type": "function", "function": function}


def test_tool_definitions_become_plain_schemas():
    out = check_tools([fn(name="get_weather", description="w",
                          parameters={"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}),
                       fn(name="ping")], CONFIG)
    assert out[0] == {"name": "get_weather", "description": "w",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]}}
    assert out[1]["parameters"] == {"type": "object", "properties": {}, "required": []}


@pytest.mark.parametrize("tool, param", [
    ("not a tool", "tools[0]"),
    ({"type": "retrieval"}, "tools[0]"),
    (fn(name="has space"), "tools[0].function.name"),
    (fn(name=""), "tools[0].function.name"),
    (fn(name="x", description=3), "tools[0].function.description"),
    (fn(name="x", parameters={"type": "array"}), "tools[0].function.parameters"),
    (fn(name="x", parameters={"type": "object", "properties": {"a": {"type": "no-such-type"}}}),
     "tools[0].function.parameters"),
    (fn(name="x", parameters={"type": "object", "required": "a"}), "tools[0].function.parameters"),
])
def test_malformed_tool_schemas_are_422_naming_the_field(tool, param):
    with pytest.raises(APIError) as e:
        check_tools([tool], CONFIG)
    assert e.value.status == 422 and e.value.param == param and e.value.code == "invalid_tool_schema"


def test_duplicate_and_too_many_tools_are_422():
    with pytest.raises(APIError) as e:
        check_tools([fn(name="a"), fn(name="a")], CONFIG)
    assert e.value.status == 422 and "duplicates" in e.value.message
    with pytest.raises(APIError) as e:
        check_tools([fn(name=f"t{i}") for i in range(3)], ServeConfig(max_tools=2))
    assert e.value.status == 422 and e.value.code == "too_many_tools"
