"""FireAct ReAct rows and CallNavi questions: what each becomes, and how bad rows are named."""

import json
from pathlib import Path

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders import CallItem, SOURCES, ToolSpec
from multiagentllm.data.loaders.callnavi import load_callnavi
from multiagentllm.data.loaders.fireact import UNREWARDED, load_fireact
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

DATA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets").resolve()


def react(*turns, reward="True", question="Are Pam Veasey and Jon Jost both American?"):
    messages = [{"role": "user", "content": question}]
    for t in turns:
        messages.append({"role": "assistant", "content": t[0]})
        if len(t) > 1:
            messages.append({"role": "user", "content": f"Observation: {t[1]}"})
    messages.append({"role": "user", "content": f"Observation: Episode finished, reward = {reward}"})
    return {"messages": messages}


GOOD = react(("Thought: I need Pam Veasey's nationality.\nAction: search[Pam Veasey]", "Pam Veasey is an American writer."),
             ("Thought: Now Jon Jost.\nAction: lookup[American]", "Jon Jost is an American filmmaker."),
             ("Thought: Both are American.\nAction: finish[Yes]",))


def write_rows(tmp_path, rows, name="multitask.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_fireact_row_becomes_a_trajectory_with_its_own_thoughts(tmp_path):
    (traj,) = load_fireact(write_rows(tmp_path, [GOOD]))
    search, lookup, finish = traj.steps
    assert search.rationale == "I need Pam Veasey's nationality." and search.action == ToolCall("search", {"query": "Pam Veasey"})
    assert search.observation == "Pam Veasey is an American writer."
    assert lookup.action == ToolCall("lookup", {"keyword": "American"})
    assert finish.next == "summarizer" and finish.rationale == "Both are American." and traj.answer == "Yes"
    for rows in STEP_ROWS.values():
        assert list(rows(traj))


def test_fireact_unrewarded_rows_are_left_out_and_counted(tmp_path):
    wrong = react(("Thought: Guess.\nAction: finish[No]",), reward="False")
    path = write_rows(tmp_path, [GOOD, wrong, wrong], name="mix.jsonl")
    assert [t.answer for t in load_fireact(path)] == ["Yes"] and UNREWARDED["mix"] == 2


@pytest.mark.parametrize("row,message", [
    (react(("Thought: a\nAction: finish[x]\nAction: finish[y]",)), "messages[1]: expected exactly one 'Action: name[argument]' line"),
    (react(("Thought: a\nAction: browse[x]", "obs"), ("Thought: b\nAction: finish[y]",)), "unknown action 'browse'"),
    (react(("Action: search[x]", "obs"), ("Thought: b\nAction: finish[y]",)), "an action without a thought"),
    ({"messages": [{"role": "assistant", "content": "Thought: a\nAction: finish[x]"}]}, "messages[0] must be the user's question"),
    (react(("Thought: a\nAction: search[x]", "obs")), "the episode has no finish[answer]"),
])
def test_fireact_bad_rows(tmp_path, row, message):
    path = write_rows(tmp_path, [GOOD, row])
    with pytest.raises(DataError, match="multitask.jsonl:2: record 1") as err:
        list(load_fireact(path))
    assert message in str(err.value)
    report = SkipReport()
    assert len(list(load_fireact(path, skip_bad=True, report=report))) == 1 and report.skipped == 1


def callnavi_files(tmp_path, questions):
    (tmp_path / "Questions").mkdir()
    (tmp_path / "APISchema").mkdir()
    (tmp_path / "APISchema" / "bank.json").write_text(json.dumps([
        {"name": "getBalance", "description": "Balance of an account.", "returnParameter": {"balance": "number"},
         "parameters": {"$schema": "http://json-schema.org/schema#", "type": "object",
                        "properties": {"accountId": {"type": "string"}}, "required": ["accountId"]}},
        {"name": "transfer", "description": "Move money.", "parameters": {"type": "object", "properties": {
            "from": {"type": "string"}, "to": {"type": "string"}, "amount": {"type": "number"}}}},
        {"name": "listAccounts", "description": "The user's accounts.", "parameters": {"type": "object"}}]))
    path = tmp_path / "Questions" / "bank.json"
    path.write_text(json.dumps(questions, indent=1))
    return path


def question(qid, text, apis, params):
    return {"id": qid, "question": [{"role": "user", "content": text}],
            "ground_truth": {"API": apis, "parameters": params}, "difficulty": "medium"}


def test_callnavi_questions_and_catalogue(tmp_path):
    path = callnavi_files(tmp_path, [
        question("b1", "Move 20 from my first account to A2.", ["listAccounts", "transfer"], [{}, {"from": "$$$", "to": "A2", "amount": 20}]),
        question("b2", "Which accounts do I have?", ["listAccounts"], [])])
    move, accounts = load_callnavi(path)
    assert isinstance(move, CallItem) and move.id == "callnavi-b1" and [t["name"] for t in move.tools] == ["getBalance", "transfer", "listAccounts"]
    assert move.calls == [ToolCall("listAccounts", {}), ToolCall("transfer", {"to": "A2", "amount": 20})]
    assert move.meta["open_arguments"] == [[1, "from"]] and move.meta["domain"] == "bank"
    assert "$schema" not in move.tools[0]["parameters"]
    assert accounts.calls == [ToolCall("listAccounts", {})]  # [] parameters for an API that takes none
    catalogue = list(load_callnavi(tmp_path / "APISchema" / "bank.json"))
    assert all(isinstance(c, ToolSpec) for c in catalogue) and catalogue[0].meta["returns"] == {"balance": "number"}


def test_callnavi_bad_questions(tmp_path):
    path = callnavi_files(tmp_path, [
        question("b1", "Balance of A1?", ["getBalance"], [{"accountId": "A1"}]),
        question("b2", "Rename me", ["renameUser"], [{"name": "x"}]),
        question("b3", "Balance?", ["getBalance", "transfer"], [{"accountId": "A1"}])])
    with pytest.raises(DataError, match=r"bank.json:\d+: record 1: ground_truth.API\[0\] 'renameUser' is not an API of domain 'bank'"):
        list(load_callnavi(path))
    report = SkipReport()
    assert [i.id for i in load_callnavi(path, skip_bad=True, report=report)] == ["callnavi-b1"] and report.skipped == 2
    assert "ground_truth has 2 APIs and 1 parameter sets" in report.examples[1]
    (tmp_path / "APISchema" / "bank.json").unlink()
    with pytest.raises(DataError, match="no API schema file for domain 'bank'"):
        list(load_callnavi(path))


def test_shipped_files():
    if not DATA.is_dir():
        pytest.skip("the shared datasets are not on this machine")
    report = SkipReport()
    fireact = list(SOURCES["fireact"].load(DATA))
    assert len(fireact) == 1344  # every row of multitask.jsonl is rewarded and well formed
    callnavi = list(SOURCES["callnavi"].load(DATA, skip_bad=True, report=report))
    assert sum(isinstance(r, CallItem) for r in callnavi) == 724 and sum(isinstance(r, ToolSpec) for r in callnavi) == 587
    assert report.skipped == 5  # CallNavi's own errors: questions naming APIs their domain lacks
