"""Chat-format dialogues (LLaMA-Factory ShareGPT, OpenAI messages + tools): one trajectory per
assistant reply, calls as caller steps with their results, bad rows named by file, line and turn."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.data.build import build
from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders import SOURCES
from multiagentllm.data.loaders.chat import ANSWER_RATIONALE, DIRECT_RATIONALE, load_openai, load_sharegpt
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

WEATHER = {"name": "get_weather", "description": "Current weather of a city. Returns degrees C.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CONVERT = {"name": "convert", "description": "Convert an amount between currencies.",
           "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
                          "required": ["amount", "to"]}}

SHAREGPT_ROW = {
    "conversations": [
        {"from": "human", "value": "Hi, can you help me?"},
        {"from": "gpt", "value": "Of course. What do you need?"},
        {"from": "human", "value": "What's the weather in Paris?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
        {"from": "observation", "value": json.dumps({"temp_c": 21})},
        {"from": "gpt", "value": "It is 21 °C in Paris."},
        {"from": "human", "value": "And order me an umbrella."},
        {"from": "gpt", "value": "I'm sorry, I cannot place orders."},
        {"from": "human", "value": "ok bye"},  # nothing answers it: left out
    ],
    "tools": json.dumps([WEATHER]),
}


def write(tmp_path: Path, rows, name="rows.json") -> Path:
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows, indent=1))
    return path


def test_sharegpt_each_reply_is_a_trajectory(tmp_path):
    greet, weather, refuse = load_sharegpt(write(tmp_path, [SHAREGPT_ROW]))
    assert [t.source for t in (greet, weather, refuse)] == ["sharegpt"] * 3
    assert greet.instruction == "Hi, can you help me?" and greet.answer == "Of course. What do you need?"
    assert [s.next for s in greet.steps] == ["summarizer"] and greet.steps[0].rationale == DIRECT_RATIONALE
    call, done = weather.steps
    assert call.action == ToolCall("get_weather", {"city": "Paris"}) and json.loads(call.observation) == {"temp_c": 21}
    assert call.rationale == "Call get_weather: Current weather of a city."  # derived from the description
    assert done.rationale == ANSWER_RATIONALE and weather.answer == "It is 21 °C in Paris."
    # later turns carry the earlier dialogue, with the calls and their results
    assert weather.instruction.startswith("Conversation so far:\nUser: Hi, can you help me?\nAssistant: Of course")
    assert weather.instruction.endswith("User: What's the weather in Paris?")
    assert 'Tool call: get_weather {"city": "Paris"} -> {"temp_c": 21}' in refuse.instruction
    assert refuse.calls == [] and refuse.tools == [WEATHER]  # a tool offered but none fits: a direct reply
    for traj in (greet, weather, refuse):
        traj.validate()
        for rows in STEP_ROWS.values():
            list(rows(traj))


def test_sharegpt_parallel_calls_system_and_role_keys(tmp_path):
    row = {"system": "The user lives in Lyon.", "tools": [WEATHER, CONVERT], "conversations": [
        {"role": "user", "content": "Weather in Lyon and 10 EUR in USD?"},
        {"role": "function_call", "content": json.dumps([
            {"name": "get_weather", "arguments": json.dumps({"city": "Lyon"})},
            {"name": "convert", "arguments": {"amount": 10, "to": "USD"}}])},
        {"role": "observation", "content": json.dumps([{"temp_c": 18}, "10.9 USD"])},
        {"role": "assistant", "content": "18 °C, and 10 EUR is 10.9 USD."}]}
    (traj,) = load_sharegpt(write(tmp_path, [row], "mine.jsonl"))
    assert traj.instruction == "Context: The user lives in Lyon.\nWeather in Lyon and 10 EUR in USD?"
    weather, convert, _ = traj.steps
    assert weather.action == ToolCall("get_weather", {"city": "Lyon"}) and json.loads(weather.observation) == {"temp_c": 18}
    assert convert.action == ToolCall("convert", {"amount": 10, "to": "USD"}) and convert.observation == "10.9 USD"


def test_openai_rows_with_tool_call_ids_and_thoughts(tmp_path):
    row = {"tools": [{"type": "function", "function": WEATHER}, {"type": "function", "function": CONVERT}],
           "messages": [
               {"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Weather in Oslo, and 5 EUR in NOK?"},
               {"role": "assistant", "content": "I need the weather and a conversion.",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
                    {"id": "b", "type": "function", "function": {"name": "convert", "arguments": '{"amount": 5, "to": "NOK"}'}}]},
               {"role": "tool", "tool_call_id": "b", "content": "58 NOK"},  # results out of order: matched by id
               {"role": "tool", "tool_call_id": "a", "content": '{"temp_c": 3}'},
               {"role": "assistant", "content": [{"type": "text", "text": "3 °C; 5 EUR is 58 NOK."}]}]}
    (traj,) = load_openai(write(tmp_path, [row]))
    assert traj.source == "openai_chat" and traj.instruction == "Context: Be brief.\nWeather in Oslo, and 5 EUR in NOK?"
    weather, convert, done = traj.steps
    assert weather.rationale == "I need the weather and a conversion."  # the model's own thought
    assert convert.rationale.startswith("Call convert")  # derived
    assert weather.observation == '{"temp_c": 3}' and convert.observation == "58 NOK"
    assert traj.answer == "3 °C; 5 EUR is 58 NOK." and traj.meta["derived_rationales"] == 2


def test_openai_legacy_function_call(tmp_path):
    row = {"functions": [WEATHER], "messages": [
        {"role": "user", "content": "Rome weather?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        {"role": "function", "name": "get_weather", "content": "25 C"},
        {"role": "assistant", "content": "25 °C."}]}
    (traj,) = load_openai(write(tmp_path, [row]))
    assert traj.calls == [ToolCall("get_weather", {"city": "Rome"})] and traj.steps[0].observation == "25 C"


@pytest.mark.parametrize("loader,row,message", [
    (load_sharegpt, {"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "x"}, {"from": "function_call", "value": '{"name": "book_hotel", "arguments": {}}'},
        {"from": "observation", "value": "ok"}, {"from": "gpt", "value": "done"}]},
     "conversations[1]: call to 'book_hotel', which the row's tools do not define"),
    (load_sharegpt, {"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "x"}, {"from": "function_call", "value": '{"name": "get_weather", "arguments": "{city"}'},
        {"from": "gpt", "value": "done"}]},
     "conversations[1]: arguments are not valid JSON"),
    (load_sharegpt, {"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "x"}, {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "A"}}'},
        {"from": "gpt", "value": "done"}]},
     "conversations[2]: the reply comes before the result of ['get_weather']"),
    (load_sharegpt, {"conversations": [{"from": "bot", "value": "x"}]}, "conversations[0]: unknown role 'bot'"),
    (load_sharegpt, {"tools": "[{oops", "conversations": []}, "tools: not valid JSON"),
    (load_sharegpt, {"tools": [{"description": "no name"}], "conversations": []}, "tools[0] must be an object with a non-empty string 'name'"),
    (load_openai, {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "z", "content": "1"}]},
     "messages[1]: a tool result with no call waiting for it"),
    (load_openai, {"tools": [WEATHER], "messages": [{"role": "user", "content": "x"},
                                                     {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "get_weather", "arguments": "[1]"}}]}]},
     "messages[1].tool_calls[0].function.arguments: arguments must be a JSON object, got list"),
    (load_openai, {"messages": [{"role": "assistant", "content": "hello"}]},
     "messages[0]: an assistant reply with no user request before it"),
    (load_openai, {"conversations": []}, "missing field 'messages'"),
])
def test_bad_rows_are_named_and_skippable(tmp_path, loader, row, message):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]} \
        if loader is load_openai else {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    path = write(tmp_path, [good, row], "data.jsonl")
    with pytest.raises(DataError) as err:
        list(loader(path))
    assert f"{path}:2: record 1: " in str(err.value) and message in str(err.value)
    report = SkipReport()
    kept = list(loader(path, skip_bad=True, report=report))
    assert [t.answer for t in kept] == ["hello"] and report.skipped == 1  # the good row is not lost


def test_shipped_glaive_file_loads_whole():
    root = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
    files = SOURCES["glaive"].files(root.resolve())
    if not files:
        pytest.skip("the shared datasets are not on this machine")
    report = SkipReport()
    trajs = list(load_sharegpt(files[0], skip_bad=True, report=report))
    assert report.skipped == 0 and {t.source for t in trajs} == {"glaive"}
    assert sum(bool(t.calls) for t in trajs) >= 200 and len(trajs) >= 700
    for t in trajs:
        t.validate()


def test_build_reads_users_files(tmp_path):
    mine = write(tmp_path, [SHAREGPT_ROW], "mine.json")
    report = build(tmp_path / "out", sources=[], files=[("sharegpt", mine)], tokenizer=None, dev=0.0, test=0.0)
    assert report.counts["trajectories_after_dedup"] == 3 and report.counts["files"] == [f"sharegpt={mine}"]
    runner = CliRunner()
    missing = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "o2"), "--sources", "",
                                  "--file", f"sharegpt={tmp_path / 'nope.json'}", "--tokenizer", "none"])
    assert missing.exit_code != 0 and "no such file" in " ".join(missing.output.split())
    bad = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "o3"), "--sources", "", "--file", "sharegpt"])
    assert bad.exit_code != 0 and "is not SOURCE=PATH" in " ".join(bad.output.split())
    unknown = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "o4"), "--sources", "",
                                  "--file", f"nosuch={mine}", "--tokenizer", "none"])
    assert unknown.exit_code != 0 and "nosuch" in unknown.output
