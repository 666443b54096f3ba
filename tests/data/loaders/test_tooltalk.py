"""ToolTalk conversations: one trajectory per assistant turn, context carried, schemas derived."""

import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders.tooltalk import DIRECT_RATIONALE, load_tooltalk
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

META = {"location": "London", "timestamp": "2023-09-11 09:00:00", "session_token": "98a5", "username": "salcano"}


def api(name, params, response=None, exception=None):
    return {"request": {"api_name": name, "parameters": params}, "response": response, "exception": exception}


CONVERSATION = [
    {"index": 0, "role": "user", "text": "Can I message justinkool?"},
    {"index": 1, "role": "assistant", "text": "Sure, what do you want to say?"},
    {"index": 2, "role": "user", "text": "Say hello."},
    {"index": 3, "role": "user", "text": "And add a reminder."},
    {"index": 4, "role": "assistant", "text": "Sent, and the reminder is set.",
     "apis": [api("SendMessage", {"session_token": "98a5", "receiver": "justinkool", "message": "Hello"},
                  {"message_id": "e149"}),
              api("AddReminder", {"session_token": "98a5", "task": "Call back", "due": None},
                  exception="The due date is missing.")]},
    {"index": 5, "role": "user", "text": "Thanks!"},
]


def write(tmp_path, conversation, name="SendMessage-easy.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps({"name": name.removesuffix(".json"), "conversation_id": "c1", "metadata": META,
                                "user": {"username": "salcano"}, "conversation": conversation, **extra}, indent=1))
    return path


def test_each_assistant_turn_is_a_trajectory(tmp_path):
    first, second = load_tooltalk(write(tmp_path, CONVERSATION))
    assert first.id == "tooltalk-SendMessage-easy-1" and second.id == "tooltalk-SendMessage-easy-4"
    assert first.instruction.startswith("Context: user salcano, session token 98a5, location London")
    assert first.instruction.endswith("Can I message justinkool?")
    assert [s.next for s in first.steps] == ["summarizer"] and first.steps[0].rationale == DIRECT_RATIONALE
    assert first.answer == "Sure, what do you want to say?"
    # the later turn sees the earlier dialogue; two user turns in a row are one request
    assert "Conversation so far:\nUser: Can I message justinkool?\nAssistant: Sure" in second.instruction
    assert second.instruction.endswith("User: Say hello.\nAnd add a reminder.")
    send, remind, done = second.steps
    assert send.action == ToolCall("SendMessage", {"session_token": "98a5", "receiver": "justinkool",
                                                   "message": "Hello"})
    assert json.loads(send.observation) == {"message_id": "e149"}
    assert send.rationale == "Call SendMessage with session_token, receiver, message."
    assert remind.observation == "Error: The due date is missing."
    assert done.next == "summarizer" and second.answer == "Sent, and the reminder is set."
    for traj in (first, second):
        traj.validate()
        for rows in STEP_ROWS.values():
            list(rows(traj))


def test_tool_schemas_are_derived_from_the_calls(tmp_path):
    (_, traj) = load_tooltalk(write(tmp_path, CONVERSATION))
    send, remind = traj.tools
    assert send == {"name": "SendMessage", "description": "",
                    "parameters": {"type": "object", "required": [], "properties": {
                        "session_token": {"type": "string"}, "receiver": {"type": "string"},
                        "message": {"type": "string"}}}}
    assert remind["parameters"]["properties"]["due"] == {}  # only null was seen: any type


@pytest.mark.parametrize("conversation, reason", [
    ([{"role": "assistant", "text": "Hi"}], "an assistant turn with no user request before it"),
    ([{"role": "user", "text": "Hi"}, {"role": "system", "text": "x"}], "conversation[1]: role must be"),
    ([{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Ok", "apis": [{"response": {}}]}],
     "conversation[1].apis[0]: missing request.api_name"),
    ([{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Ok", "apis": [
        {"request": {"api_name": "A", "parameters": {}}}]}], "neither a response nor an exception"),
    ([{"role": "user", "text": "Hi"}, {"role": "assistant", "text": ""}], "an assistant turn with empty text"),
])
def test_bad_conversations_name_the_file(tmp_path, conversation, reason):
    path = write(tmp_path, conversation)
    with pytest.raises(DataError) as e:
        list(load_tooltalk(path))
    assert e.value.path == str(path) and reason in str(e.value)


def test_bad_json_missing_field_and_skip_bad(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"conversation": [\n  {"role": "user",, "text": "x"}]}')
    with pytest.raises(DataError, match=r"bad\.json:2: invalid JSON"):
        list(load_tooltalk(bad))
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"name": "x"}))
    with pytest.raises(DataError, match=r"missing\.json: missing field 'conversation'"):
        list(load_tooltalk(missing))
    report = SkipReport()
    good = write(tmp_path, CONVERSATION)
    trajs = [t for p in (bad, missing, good) for t in load_tooltalk(p, skip_bad=True, report=report)]
    assert len(trajs) == 2 and report.skipped == 2


def test_real_conversations(data_root):
    folder = data_root / "ToolTalk" / "data"
    files = sorted(folder.glob("easy/*.json")) + sorted(folder.glob("tooltalk/*.json"))
    assert len(files) == 78
    total = 0
    for path in files:
        data = json.loads(path.read_text())
        trajs = list(load_tooltalk(path))
        replies = [i for i, t in enumerate(data["conversation"]) if t["role"] == "assistant"]
        assert len(trajs) == len(replies)
        calls = sum(len(t.get("apis") or []) for t in data["conversation"])
        assert sum(len(t.calls) for t in trajs) == calls
        for t in trajs:
            t.validate()
            assert list(STEP_ROWS["planner"](t)) and list(STEP_ROWS["summarizer"](t))
        total += len(trajs)
    assert total > 200
    failed = list(load_tooltalk(folder / "tooltalk" / "AccountTools-Email-Reminder-ChangePassword-1.json"))
    assert any(s.observation == "Error: The password is incorrect." for t in failed for s in t.steps)
    modify = list(load_tooltalk(folder / "tooltalk" / "Calendar-Messages-Weather-SendMessage-1.json"))[1]
    # the event id the first turn created is in the second turn's instruction, where the call needs it
    assert modify.steps[0].action.arguments["event_id"] in modify.instruction
