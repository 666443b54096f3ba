"""alpha-UMi release formats: conversations, role rows ({tools, history, input, target}), chains.

The fixtures follow the release's files (GLPFT/dataset/toolbench): planner turns end with
" Next: caller." / " Next: conclusion." / " Next: give up.", restart prompts are extra user turns,
role rows hold the turns before their target."""

import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders.alpha_umi import convert_tool, load_alpha_umi
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

TOOLS = [
    {"Name": "quiz_for_moodring",
     "function": 'This is the subfunction for tool "moodring", you can use this tool.The description of this '
                 'function is: "Get one quiz by quizId."',
     "input": {"quizid": "string, the quiz"}},
    {"Name": "users_for_moodring", "function": 'This is the subfunction for tool "moodring", you can use this tool.',
     "input": {"limit": "integer, how many", "when": "DATE, a day"}},
]
RESTART = "This is not the first time you try this task, all previous trails failed.\n..."


def turn(who, value):
    return {"from": who, "value": value}


SOLVED = [turn("user", "Show quiz 1."), turn("user", RESTART),
          turn("assistant", "I should fetch quiz 1.\n Next: caller."),
          turn("caller", 'Action: quiz_for_moodring\nAction Input: {\n  "quizid": "1"\n}'),
          turn("observation", "{'_id': 1, 'name': 'Parramatta'}"),
          turn("assistant", "The quiz is called Parramatta.\n"),  # a thought; the next turn decides
          turn("assistant", " Next: conclusion."),
          turn("conclusion", "Quiz 1 is called Parramatta.")]
GIVEN_UP = [turn("user", "List the users."),
            turn("assistant", " Next: caller."),
            turn("caller", "Action: users_for_moodring\nAction Input: {}"),
            turn("observation", ""),
            turn("assistant", "The API keeps failing.\n Next: give up.")]


def write(tmp_path, records, name="data.json", jsonl=False):
    path = tmp_path / name
    text = "".join(json.dumps(r) + "\n" for r in records) if jsonl else json.dumps(records, indent=2)
    path.write_text(text)
    return path


def conversation(turns, instruction=None):
    return {"tools": TOOLS, "instruction": instruction or turns[0]["value"], "conversations": turns}


def test_tool_conversion():
    quiz, users = (convert_tool(t) for t in TOOLS)
    assert quiz == {"name": "quiz_for_moodring", "description": "Get one quiz by quizId.",
                    "parameters": {"type": "object", "properties": {"quizid": {"type": "string",
                                                                                "description": "the quiz"}},
                                   "required": []}}
    assert users["description"] == 'An endpoint of the "moodring" API.'
    assert users["parameters"]["properties"] == {"limit": {"type": "integer", "description": "how many"},
                                                 "when": {"description": "DATE, a day"}}
    openai = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}
    assert convert_tool(openai)["name"] == "f"


def test_conversations_become_trajectories(tmp_path):
    solved, given_up = load_alpha_umi(write(tmp_path, [conversation(SOLVED), conversation(GIVEN_UP)]))
    assert solved.id == "alpha_umi-data-0" and solved.source == "alpha_umi"
    assert solved.instruction == "Show quiz 1." and solved.outcome == "solved"
    assert [s.next for s in solved.steps] == ["caller", "summarizer"]
    assert solved.steps[0].rationale == "I should fetch quiz 1."
    assert solved.steps[0].action == ToolCall("quiz_for_moodring", {"quizid": "1"})
    assert solved.steps[0].observation == "{'_id': 1, 'name': 'Parramatta'}"
    assert solved.steps[1].rationale == "The quiz is called Parramatta."
    assert solved.answer == "Quiz 1 is called Parramatta."
    assert solved.meta["restart_prompts"] == 1 and solved.meta["format"] == "conversations"
    assert given_up.outcome == "given_up" and given_up.answer is None
    assert given_up.steps[0].rationale == "Call users_for_moodring: An endpoint of the \"moodring\" API."
    assert given_up.steps[0].observation == "" and given_up.meta["derived_rationales"] == 1
    for traj in (solved, given_up):
        traj.validate()
        for rows in STEP_ROWS.values():
            list(rows(traj))


def role_rows(turns):
    """The rows alpha-UMi's preprocessing cuts from one conversation, for every role."""
    rows = []
    for i, t in enumerate(turns):
        if t["from"] in ("assistant", "caller", "conclusion") and i > 0:
            rows.append({"tools": TOOLS, "history": turns[:i], "input": "<rendered prompt>", "target": t["value"]})
    return rows


def test_role_rows_rebuild_the_whole_episodes_only(tmp_path):
    rows = role_rows(SOLVED) + role_rows(GIVEN_UP)
    trajs = list(load_alpha_umi(write(tmp_path, rows, "train_planner.json")))
    # only the summarizer row and the give-up planner row hold a whole episode; the rest are prefixes
    assert len(trajs) == 2 and all(t.meta["format"] == "role_row" for t in trajs)
    direct = list(load_alpha_umi(write(tmp_path, [conversation(SOLVED), conversation(GIVEN_UP)])))
    for rebuilt, whole in zip(trajs, direct):
        assert rebuilt.steps == whole.steps and rebuilt.answer == whole.answer


def test_backbone_rows(tmp_path):
    history = SOLVED[:5]
    rows = [{"tools": TOOLS, "history": SOLVED[:2], "input": "",
             "target": 'I should fetch quiz 1.\nAction: quiz_for_moodring\nAction Input: {"quizid": "1"}'},
            {"tools": TOOLS, "history": history, "input": "",
             "target": "The quiz is called Parramatta.\nconclusion: Quiz 1 is called Parramatta."},
            {"tools": TOOLS, "history": GIVEN_UP[:4], "input": "", "target": "It keeps failing.\nconclusion: give up."}]
    solved, given_up = load_alpha_umi(write(tmp_path, rows, "train_backbone.json", jsonl=True))
    assert solved.answer == "Quiz 1 is called Parramatta."
    assert solved.steps[-1].rationale == "The quiz is called Parramatta."
    assert given_up.outcome == "given_up" and given_up.steps[-1].rationale == "It keeps failing."


def test_raw_stage_1_chains(tmp_path):
    chains = [{"role": "system", "content": "You are AutoGPT"},
              {"role": "user", "content": "\nShow quiz 1.\nBegin!\n"},
              {"role": "user", "content": RESTART, "valid": False},
              {"role": "assistant", "content": "Fetch it.",
               "function_call": {"name": "quiz_for_moodring", "arguments": '{"quizid": "1"}'}},
              {"role": "function", "name": "quiz_for_moodring", "content": '{"error": "", "response": "ok"}'},
              {"role": "assistant", "content": None, "function_call": {
                  "name": "Finish", "arguments": '{"return_type": "give_answer", "final_answer": "Done."}'}}]
    (traj,) = load_alpha_umi(write(tmp_path, [{"tools": TOOLS, "instruction": "Show quiz 1.", "chains": chains}]))
    assert traj.meta["format"] == "chains" and traj.meta["restart_prompts"] == 1
    assert traj.answer == "Done." and traj.steps[0].rationale == "Fetch it."


# A DFSDT record as the paper's test files hold them: a planner turn without a `Next:` label right
# before a caller turn, and one before a restart prompt, after which the planner retries.
DFSDT = [turn("user", "Show quiz 1."),
         turn("assistant", "I should fetch quiz 1.\n Next: caller."),
         turn("caller", 'Action: quiz_for_moodring\nAction Input: {"quizid": "one"}'),
         turn("observation", "{'error': 'bad id'}"),
         turn("assistant", "The id must be a number, try again.\n"),  # no label, a caller turn follows
         turn("caller", 'Action: quiz_for_moodring\nAction Input: {"quizid": "1"}'),
         turn("observation", "{'error': 'timeout'}"),
         turn("assistant", "It timed out; I cannot get the quiz this way.\n"),  # no label, a retry follows
         turn("user", RESTART),
         turn("assistant", "Fetch the quiz list instead.\n Next: caller."),
         turn("caller", "Action: users_for_moodring\nAction Input: {}"),
         turn("observation", "{'quiz': 'Parramatta'}"),
         turn("assistant", "Found it.\n Next: conclusion."),
         turn("conclusion", "Quiz 1 is called Parramatta.")]


def test_unlabelled_planner_turns_are_read_as_the_papers_evaluator_scores_them(tmp_path):
    (traj,) = load_alpha_umi(write(tmp_path, [conversation(DFSDT)]))
    assert [s.next for s in traj.steps] == ["caller", "caller", "caller", "summarizer"]
    assert traj.steps[1].rationale == "The id must be a number, try again."
    assert traj.steps[1].action == ToolCall("quiz_for_moodring", {"quizid": "1"})
    assert traj.steps[2].rationale == "It timed out; I cannot get the quiz this way.\nFetch the quiz list instead."
    assert traj.steps[2].action == ToolCall("users_for_moodring", {})
    assert traj.answer == "Quiz 1 is called Parramatta."
    assert traj.meta["unlabelled_calls"] == 1 and traj.meta["joined_thoughts"] == 1
    assert traj.meta["restart_prompts"] == 1
    (plain,) = load_alpha_umi(write(tmp_path, [conversation(SOLVED)], "solved.json"))
    assert plain.meta["unlabelled_calls"] == 0 and plain.meta["joined_thoughts"] == 1


def test_unlabelled_planner_turn_in_role_rows(tmp_path):
    """The rows cut from a DFSDT conversation rebuild the same episode as the conversation."""
    (rebuilt,) = load_alpha_umi(write(tmp_path, role_rows(DFSDT), "train_planner.json"))
    (whole,) = load_alpha_umi(write(tmp_path, [conversation(DFSDT)], "test.json"))
    assert rebuilt.steps == whole.steps and rebuilt.answer == whole.answer


def replace(turns, i, value):
    return [*turns[:i], turn(turns[i]["from"], value), *turns[i + 1:]]


@pytest.mark.parametrize("turns, reason", [
    (replace(SOLVED, 2, "Fetch.\n Next: maybe later."), "unknown planner decision 'Next: maybe later.'"),
    (replace(SOLVED, 3, "Action: quiz_for_other\nAction Input: {}"),
     "calls 'quiz_for_other', which is not in the tool list"),
    (replace(SOLVED, 3, "Action: quiz_for_moodring\nAction Input: {bad"),
     "Action Input for 'quiz_for_moodring' is not valid JSON"),
    (replace(SOLVED, 7, "none"), "the conclusion turn holds no answer"),
    (SOLVED[:4], "ends before the observation turn"),
    (SOLVED[:5], "ends before the planner decides"),
    ([*GIVEN_UP, turn("conclusion", "x")], "a turn follows the final planner decision"),
    ([SOLVED[0], turn("caller", "Action: quiz_for_moodring\nAction Input: {}")], "without the planner turn"),
    ([*SOLVED[:2], turn("tool", "x")], "unknown turn 'from': 'tool'"),
    ([*SOLVED[:5], turn("assistant", "Thinking.\n"), turn("observation", "x")],
     "followed by no caller turn, planner turn or restart prompt"),
])
def test_bad_conversations_name_file_and_line(tmp_path, turns, reason):
    path = write(tmp_path, [conversation(SOLVED), conversation(turns)])
    with pytest.raises(DataError) as e:
        list(load_alpha_umi(path))
    assert e.value.path == str(path) and reason in str(e.value)
    assert e.value.line == path.read_text().splitlines().index("  {", 2) + 1  # where record 1 starts


def test_bad_json_missing_field_and_skip_bad(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(conversation(SOLVED)) + "\n{oops\n" + json.dumps({"conversations": SOLVED}) + "\n"
                    + json.dumps({"tools": TOOLS, "messages": []}) + "\n" + json.dumps(conversation(GIVEN_UP)) + "\n")
    with pytest.raises(DataError, match=r"rows\.jsonl:2: invalid JSON"):
        list(load_alpha_umi(path))
    report = SkipReport()
    trajs = list(load_alpha_umi(path, skip_bad=True, report=report))
    assert [t.outcome for t in trajs] == ["solved", "given_up"]
    assert report.skipped == 3
    assert "rows.jsonl:3: record 2: missing field 'tools'" in report.examples[1]
    assert "rows.jsonl:4" in report.examples[2] and "not an alpha-UMi record" in report.examples[2]
