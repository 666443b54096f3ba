import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders import CallItem, get_source
from multiagentllm.data.loaders.apibank import load_apibank, load_apibank_catalogue
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall, Trajectory

API = "API-Bank/api-bank"
DESC = {"name": "GetUserToken", "description": "Get the user token. By name and password.",
        "input_parameters": {"username": {"type": "str", "description": "The username."},
                             "password": {"type": "str", "description": "The password."}},
        "output_parameters": {"token": {"type": "str", "description": "The token."}}}
INSTRUCTION = ("\nGenerate an API request ...\nThe current year is 2023.\nInput: ...\n\nAPI descriptions:\n"
               + json.dumps(DESC))


def row(input_text, expected, **extra):
    return {"file": "X-level-1-1.jsonl", "id": 0, "instruction": INSTRUCTION, "input": input_text,
            "expected_output": expected, **extra}


def write(tmp_path, records, name="level-1-api.json", folder="test-data"):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2))
    return path


GOOD = row("User: My name is u1 and password is p1.\nAI: Getting a token.\nGenerate API Request:\n",
           "API-Request: [GetUserToken(username='u1', password='p1')]")


# --- hand-made fixtures ------------------------------------------------------------------------

def test_call_item_from_a_fixture(tmp_path):
    [item] = load_apibank(write(tmp_path, [GOOD]))
    assert isinstance(item, CallItem)
    assert item.id == "apibank-level-1-api-0"
    assert item.calls == [ToolCall("GetUserToken", {"username": "u1", "password": "p1"})]
    assert item.instruction == ("The current year is 2023.\nUser: My name is u1 and password is p1.\n"
                                "AI: Getting a token.")
    [tool] = item.tools
    assert tool["parameters"] == {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string", "description": "The username."},
        "password": {"type": "string", "description": "The password."}}}
    assert item.meta["split"] == "test" and item.meta["history"] == []


def test_response_row_becomes_a_trajectory_with_the_trailing_requests_as_steps(tmp_path):
    rec = row("User: Token please, u1 / p1.\nAI: Sure.\n"
              "API-Request: [GetUserToken(username='u1', password='p1')]->{'token': 'abc'}\n"
              "Generate AI Response:\n", "AI: Your token is abc.")
    [traj] = load_apibank(write(tmp_path, [rec], name="level-1-response.json"))
    assert isinstance(traj, Trajectory)
    traj.validate()
    assert [s.next for s in traj.steps] == ["caller", "summarizer"]
    assert traj.steps[0].action == ToolCall("GetUserToken", {"username": "u1", "password": "p1"})
    assert json.loads(traj.steps[0].observation) == {"token": "abc"}
    assert traj.steps[0].rationale == "Call GetUserToken: get the user token."
    assert traj.answer == "Your token is abc."
    assert "API-Request" not in traj.instruction
    assert traj.meta["rationale"].startswith("derived")


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "level-1-api.json"
    path.write_text("[\n" + json.dumps(GOOD) + ',\n  {"input": oops}\n]\n')
    with pytest.raises(DataError) as e:
        list(load_apibank(path))
    assert e.value.path == str(path) and e.value.line == 3
    assert f"{path}:3: invalid JSON" in str(e.value)


def test_missing_field_and_unknown_tool_name_the_record_line(tmp_path):
    no_target = {k: v for k, v in GOOD.items() if k != "expected_output"}
    unknown = row("User: hi\nGenerate API Request:\n", "API-Request: [DeleteAccount(token='t')]")
    path = write(tmp_path, [GOOD, no_target, unknown], folder="elsewhere")
    with pytest.raises(DataError, match="missing field 'output'") as e:
        list(load_apibank(path))
    starts = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == "  {"]
    assert e.value.line == starts[1]  # the line the second record starts on
    report = SkipReport()
    items = list(load_apibank(path, skip_bad=True, report=report))
    assert [i.id for i in items] == ["apibank-level-1-api-0"]
    assert report.skipped == 2
    assert "unknown tool(s) ['DeleteAccount']" in report.examples[1]


def test_unparsable_request_is_a_bad_record(tmp_path):
    bad = row("User: hi\nGenerate API Request:\n", "API-Request: [GetUserToken(username='u1)]")
    with pytest.raises(DataError, match="unterminated quoted value"):
        list(load_apibank(write(tmp_path, [bad])))


# --- the real files ----------------------------------------------------------------------------

def test_level1_first_item(data_root):
    items = list(load_apibank(data_root / API / "test-data" / "level-1-api.json"))
    assert len(items) == 399
    first = items[0]
    assert first.calls == [ToolCall("ModifyRegistration", {
        "appointment_id": "34567890", "new_appointment_date": "2023-03-26",
        "new_appointment_doctor": "Dr. Lee"})]
    assert [t["name"] for t in first.tools] == ["QueryHealthData", "CancelRegistration", "ModifyRegistration"]
    assert first.instruction.startswith("The current year is 2023.\nUser: Can you please modify my appointment")
    assert first.meta["dialogue_file"] == "ModifyRegistration-QueryHealthData-CancelRegistration-level-2-2.jsonl"


def test_level2_tools_found_by_search_or_taken_from_the_catalogue(data_root):
    items = list(load_apibank(data_root / API / "test-data" / "level-2-api.json"))
    assert len(items) == 135
    second = items[1]  # QueryHistoryToday was found by ToolSearcher earlier in the dialogue
    assert second.calls == [ToolCall("QueryHistoryToday", {"date": "10-06"})]
    assert [t["name"] for t in second.tools] == ["ToolSearcher", "QueryHistoryToday"]
    borrowed = [i for i in items if "tools_from_catalogue" in i.meta]
    assert borrowed and all(c.name in {t["name"] for t in i.tools} for i in borrowed for c in i.calls)


def test_level3_episodes_are_valid_trajectories_that_build(data_root):
    trajs = list(load_apibank(data_root / API / "test-data" / "level-3.json"))
    assert len(trajs) == 50
    first = trajs[0]
    assert first.instruction == "Query meeting of John and send email reminder to john@example.com."
    assert [s.action.name for s in first.steps if s.action] == [
        "ToolSearcher", "QueryMeeting", "ToolSearcher", "EmailReminder", "EmailReminder"]
    assert json.loads(first.steps[1].observation)["meetings"][0]["meeting_id"] == 1
    for traj in trajs:
        traj.validate()
        for build in STEP_ROWS.values():
            assert list(build(traj))


def test_training_rows_and_the_source_patterns(data_root):
    source = get_source("apibank")
    names = [p.name for p in source.files(data_root)]
    assert "lv3-train.json" not in names and "level-3-batch-inf-icl.json" not in names
    assert {"level-1-api.json", "level-3.json", "lv3-api-train.json"} <= set(names)
    report = SkipReport()
    items = list(load_apibank(data_root / API / "training-data" / "lv3-api-train.json",
                              skip_bad=True, report=report))
    assert len(items) + report.skipped == 907
    assert report.skipped < 10
    assert items[0].calls == [ToolCall("ToolSearcher", {"keywords": "healthcare provider appointment availability checker"})]
    assert items[1].meta["history"][0]["action"]["name"] == "ToolSearcher"
    assert "split" not in items[0].meta


def test_catalogue_csv(data_root):
    specs = {s.tool["name"]: s for s in load_apibank_catalogue(data_root / API / "data" / "all_apis.csv")}
    assert len(specs) == 100  # 101 rows; ImageCaption's api_info is not Python
    assert specs["GetUserToken"].tool["parameters"]["required"] == ["username", "password"]
    assert "token" in specs["GetUserToken"].meta["outputs"]
