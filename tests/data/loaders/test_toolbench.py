"""ToolBench loaders: DFSDT chains -> trajectories, ToolEval CoT answers, query files."""

import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.chains import derived_rationale
from multiagentllm.data.loaders.toolbench import load_dfsdt, load_queries, load_tooleval_results
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall, Trajectory

SYSTEM = {"role": "system", "content": "You are AutoGPT, you can use many tools(functions) to do the following task."}
RESTART = {"role": "user", "content": "This is not the first time you try this task, all previous trails failed.\n..."}
WEATHER = {"name": "current_for_weatherapi",
           "description": 'This is the subfunction for tool "weatherapi", you can use this tool.The description '
                          'of this function is: "Current weather for a city. Updated hourly."',
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "",
                                                                    "example_value": "Paris"}},
                          "required": ["city"], "optional": []}}
FINISH_FN = {"name": "Finish", "description": "Finish the task.",
             "parameters": {"type": "object", "properties": {"return_type": {"type": "string"}}, "required": []}}


def call(name, args, content=None):
    return {"role": "assistant", "content": content, "function_call": {"name": name, "arguments": json.dumps(args)}}


def result(name, response):
    return {"role": "function", "name": name, "content": json.dumps({"error": "", "response": response})}


def finish(answer=None, content=None):
    args = {"return_type": "give_answer", "final_answer": answer} if answer else {"return_type": "give_up_and_restart"}
    return call("Finish", args, content)


def chain(*turns):
    return [SYSTEM, {"role": "user", "content": "\nWhat is the weather in Paris?\nBegin!\n"}, *turns]


def answer_file(tmp_path, messages, name="7_ChatGPT_DFS_woFilter_w2.json", group="G1_answer", **extra):
    gen = {"valid_data": True, "final_answer": "", "function": [WEATHER, FINISH_FN],
           "query": "What is the weather in Paris?", "finish_type": "give_answer",
           "train_messages": [messages[:4], messages], **extra}
    path = tmp_path / group / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"win": True, "answer_generation": gen}, indent=2))
    return path


def test_dfsdt_chain_becomes_trajectory_with_thoughts_calls_and_answer(tmp_path):
    path = answer_file(tmp_path, chain(
        call("current_for_weatherapi", {"city": "Paris"}, "I need the current weather."),
        result("current_for_weatherapi", "11C, cloudy"),
        {"role": "assistant", "content": "It is 11C and cloudy.", },
        finish("It is 11C and cloudy in Paris.")))
    (traj,) = load_dfsdt(path)
    assert traj.id == "toolbench-G1-7" and traj.source == "toolbench"
    assert traj.instruction == "What is the weather in Paris?"
    assert traj.tool_names == ["current_for_weatherapi"]  # Finish is not a tool
    assert traj.tools[0]["description"] == "Current weather for a city. Updated hourly."
    assert traj.tools[0]["parameters"]["properties"]["city"] == {"type": "string", "description": "",
                                                                 "examples": ["Paris"]}
    first, last = traj.steps
    assert first.rationale == "I need the current weather." and first.next == "caller"
    assert first.action == ToolCall("current_for_weatherapi", {"city": "Paris"})
    assert json.loads(first.observation) == {"error": "", "response": "11C, cloudy"}
    # a thought-only assistant turn and the Finish call after it are one summarizer step
    assert last.rationale == "It is 11C and cloudy." and last.next == "summarizer"
    assert traj.answer == "It is 11C and cloudy in Paris." and traj.outcome == "solved"
    assert traj.meta["derived_rationales"] == 0 and traj.meta["restart_prompts"] == 0


def test_empty_thoughts_get_derived_rationales_and_restart_prompts_are_dropped(tmp_path):
    path = answer_file(tmp_path, chain(
        call("current_for_weatherapi", {"city": "Paris"}), result("current_for_weatherapi", "timeout"),
        RESTART,
        call("current_for_weatherapi", {"city": "Paris"}, "The last call failed; try once more."),
        result("current_for_weatherapi", "timeout"),
        finish()))
    (traj,) = load_dfsdt(path)
    assert traj.steps[0].rationale == "Call current_for_weatherapi: Current weather for a city."
    assert traj.steps[1].rationale == "The last call failed; try once more."
    assert traj.steps[-1].next == "give_up" and traj.outcome == "given_up" and traj.answer is None
    assert traj.meta["restart_prompts"] == 1
    assert traj.meta["derived_rationales"] == 2  # the first call and the thought-less Finish


def test_derived_rationale_without_description_names_the_arguments():
    assert derived_rationale(ToolCall("f", {"a": 1, "b": 2}), {"name": "f", "description": ""}) == "Call f with a, b."
    assert derived_rationale(ToolCall("f", {}), None) == "Call f."


def test_search_without_answer_yields_nothing(tmp_path):
    path = tmp_path / "G1_answer" / "3_x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"answer_generation": {"valid_data": False, "final_answer": "", "function": []}}))
    assert list(load_dfsdt(path)) == []


def test_call_to_a_tool_not_offered_is_kept_as_a_rejected_call(tmp_path):
    """ChatGPT does call tools that are not in its list; the episode is real and stays, the call
    recorded as the runtime records a rejected one, with the observation the source holds."""
    path = answer_file(tmp_path, chain(
        call("forecast_for_weatherapi", {"days": 2}, "Get the forecast."),
        result("forecast_for_weatherapi", "Forbidden"),
        call("current_for_weatherapi", {"city": "Paris"}, "Then the current weather."),
        result("current_for_weatherapi", "11C"), finish("11C")))
    (traj,) = load_dfsdt(path)
    assert [s.next for s in traj.steps] == ["caller", "summarizer"] and traj.answer == "11C"
    assert traj.calls == [ToolCall("current_for_weatherapi", {"city": "Paris"})]
    (rejected,) = traj.meta["rejected_calls"]
    assert rejected["index"] == 0 and rejected["rationale"] == "Get the forecast."
    assert rejected["action"] == {"name": "forecast_for_weatherapi", "arguments": {"days": 2}}
    assert json.loads(rejected["observation"]) == {"error": "", "response": "Forbidden"}
    assert "unknown tool 'forecast_for_weatherapi'" in rejected["error"]
    traj.validate()


@pytest.mark.parametrize("turns, reason", [
    ((call("current_for_weatherapi", {"city": "Paris"}), finish("a")), "has no function result after it"),
    ((call("Finish", {"return_type": "maybe"}),), "unknown return_type 'maybe'"),
    ((call("current_for_weatherapi", {"city": "Paris"}), result("current_for_weatherapi", "x")),
     "does not end with a Finish call"),
    (({"role": "assistant", "content": None, "function_call": {"name": "current_for_weatherapi",
                                                                "arguments": "{city: Paris"}},),
     "arguments are not valid JSON"),
])
def test_broken_chain_names_file_and_message(tmp_path, turns, reason):
    path = answer_file(tmp_path, chain(*turns))
    with pytest.raises(DataError) as e:
        list(load_dfsdt(path))
    assert e.value.path == str(path) and reason in str(e.value)
    assert "train_messages[-1]" in str(e.value)


def test_bad_json_and_missing_field_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"answer_generation":\n  {"valid_data": true,,}}')
    with pytest.raises(DataError, match=r"bad\.json:2: invalid JSON"):
        list(load_dfsdt(bad))
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"win": True}))
    with pytest.raises(DataError, match=r"missing\.json: missing field 'answer_generation'"):
        list(load_dfsdt(missing))


def test_skip_bad_counts_and_continues(tmp_path):
    good = answer_file(tmp_path, chain(call("current_for_weatherapi", {"city": "Paris"}),
                                       result("current_for_weatherapi", "11C"), finish("11C")))
    bad = answer_file(tmp_path, chain(call("current_for_weatherapi", {}), finish("a")), name="8_x.json")
    report = SkipReport()
    out = [t for p in (bad, good) for t in load_dfsdt(p, skip_bad=True, report=report)]
    assert [t.id for t in out] == ["toolbench-G1-7"]
    assert report.skipped == 1 and "8_x.json" in report.examples[0]


def test_real_dfsdt_answers(data_root):
    files = sorted((data_root / "ToolBench" / "data_example" / "answer").glob("G*_answer/*.json"))
    assert len(files) == 15
    report = SkipReport()
    trajs = [t for f in files for t in load_dfsdt(f, skip_bad=True, report=report)]
    # two searches found no answer (no chain); one chain calls a function that is not in its list:
    # a real hallucinated call, kept as a rejected call with the observation ToolBench recorded
    assert report.skipped == 0 and len(trajs) == 13
    g3 = next(t for t in trajs if t.id == "toolbench-G3-21")
    (rejected,) = g3.meta["rejected_calls"]
    assert rejected["action"]["name"] == "dota_2_steam_web" and "Forbidden" in rejected["observation"]
    assert [s.action.name for s in g3.steps if s.action] == ["raiderio_call_for_raider_io",
                                                              "getsponsorships_for_diablo4_smartable"]
    assert {t.outcome for t in trajs} == {"solved", "given_up"}
    for t in trajs:
        t.validate()
        assert "Finish" not in t.tool_names
        for name, rows in STEP_ROWS.items():
            assert list(rows(t)) or (name == "summarizer" and t.outcome == "given_up")
    g1 = next(t for t in trajs if t.id == "toolbench-G1-10")
    assert [s.action.name for s in g1.steps if s.action] == ["transitaires_for_transitaires",
                                                              "transitaire_for_transitaires"]
    assert g1.steps[1].action.arguments == {"is_id": "ACT_AGENCE_CALEDONIENNE_DE_TRANSIT"}
    assert "sales@act.nc" in g1.answer and "sales@act.nc" in g1.steps[1].observation


def tooleval_file(tmp_path, records):
    path = tmp_path / "G1_instruction.json"
    path.write_text(json.dumps(records, indent=4))
    return path


def node(role, message, *after):
    return {"role": role, "message": message, "next": list(after)}


def tool_msg(name, args, response):
    return repr({"name": name, "arguments": json.dumps(args), "response": response})


def cot_record(details, final='{"return_type": "give_answer", "final_answer": "11C"}'):
    return {"query": "Weather in Paris?", "available_tools": [WEATHER, FINISH_FN],
            "answer": {"method": "chatgpt_CoT", "total_steps": 3, "final_answer": final,
                       "answer_details": [details]}}


def test_tooleval_intact_record_gives_trajectory_and_reference_item(tmp_path):
    done = node("tool", tool_msg("Finish", {"return_type": "give_answer", "final_answer": "11C"}, ""))
    lookup = node("tool", tool_msg("current_for_weatherapi", {"city": "Paris"}, '{"t": 11}'), done)
    details = node("system", "", node("user", "Weather in Paris?", node("assistant", "Look up Paris.", lookup)))
    truncated = node("tool", "{'name': 'current_for_weatherapi', 'argu")  # as the shipped files cut them
    cut = node("system", "", node("user", "Weather in Paris?", truncated))
    path = tooleval_file(tmp_path, {"1": cot_record(details), "2": cot_record(cut, final="")})
    recs = list(load_tooleval_results(path))
    items = [r for r in recs if isinstance(r, CallItem)]
    (traj,) = [r for r in recs if isinstance(r, Trajectory)]
    assert [i.id for i in items] == ["toolbench_cot-G1_instruction-1", "toolbench_cot-G1_instruction-2"]
    assert items[0].calls == [] and items[0].meta["reference"]["final_answer"] == "11C"
    assert items[1].meta["reference"]["return_type"] is None
    assert traj.steps[0].rationale == "Look up Paris." and traj.steps[0].observation == '{"t": 11}'
    assert traj.answer == "11C" and traj.steps[-1].next == "summarizer"


def test_tooleval_missing_field_names_the_records_line(tmp_path):
    path = tooleval_file(tmp_path, {"1": {"query": "q", "answer": {}}})
    with pytest.raises(DataError) as e:
        list(load_tooleval_results(path))
    assert e.value.line == 2 and "record 1: missing field 'available_tools'" in str(e.value)


def test_real_tooleval_results_hold_no_whole_chain(data_root):
    folder = data_root / "ToolBench" / "toolbench" / "tooleval" / "results" / "default_evalset" / "gpt-3.5-turbo_CoT"
    path = folder / "G1_instruction.json"
    recs = list(load_tooleval_results(path))
    # the shipped files cut every tool message to ~100-200 characters: no observations to train on
    assert all(isinstance(r, CallItem) for r in recs) and len(recs) == len(json.loads(path.read_text()))
    answered = [r for r in recs if r.meta["reference"]["return_type"] == "give_answer"]
    assert answered and all(r.meta["reference"]["final_answer"] for r in answered)
    assert all("Finish" not in [t["name"] for t in r.tools] for r in recs)


def test_real_toolbench_query_files(data_root):
    path = data_root / "ToolBench" / "data_example" / "instruction" / "G1_query.json"
    recs = list(load_queries(path))
    items = [r for r in recs if isinstance(r, CallItem)]
    specs = [r for r in recs if isinstance(r, ToolSpec)]
    assert len(items) == len(json.loads(path.read_text())) and specs
    assert all(r.source == "toolbench" and r.calls == [] for r in items)
    assert items[0].id == "toolbench-G1-1" and items[0].meta["relevant_apis"] == [
        "checkhealth_for_squake", "projects_for_squake"]


def tree_node(kind, description, *children, observation=None):
    out = {"node_type": kind, "description": description, "pruned": False, "children": list(children)}
    if observation is not None:
        out["observation"] = observation
    return out


def test_give_up_branches_of_the_search_tree_are_variants(tmp_path):
    give_up = json.dumps({"return_type": "give_up_and_restart"})
    gave_up = tree_node("Thought", "It keeps timing out.",
                        tree_node("Action", "Finish", tree_node("Action Input", give_up)))
    pruned = tree_node("Action", "current_for_weatherapi", tree_node("Action Input", '{"city": "Paris"}'))
    tried = tree_node("Action", "current_for_weatherapi",
                      tree_node("Action Input", '{"city": "Paris"}', gave_up, pruned, observation="timeout"))
    path = answer_file(tmp_path, chain(call("current_for_weatherapi", {"city": "Paris"}),
                                       result("current_for_weatherapi", "11C"), finish("11C")))
    data = json.loads(path.read_text())
    data["tree"] = {"size": 7, "tree": tree_node("Action Input", "", tree_node("Thought", "Try the API.", tried))}
    path.write_text(json.dumps(data))
    assert [t.id for t in load_dfsdt(path)] == ["toolbench-G1-7"]  # variants are opt-in
    main, variant = load_dfsdt(path, give_up_branches=True)
    assert variant.id == "toolbench-G1-7-giveup0" and variant.meta["variant"] == "give_up_branch"
    assert variant.outcome == "given_up" and variant.instruction == main.instruction
    assert [(s.rationale, s.next) for s in variant.steps] == [("Try the API.", "caller"),
                                                              ("It keeps timing out.", "give_up")]
    assert variant.steps[0].observation == "timeout"


def test_real_give_up_branches(data_root):
    files = sorted((data_root / "ToolBench" / "data_example" / "answer").glob("G*_answer/*.json"))
    report = SkipReport()
    trajs = [t for f in files for t in load_dfsdt(f, skip_bad=True, report=report, give_up_branches=True)]
    variants = [t for t in trajs if t.meta.get("variant") == "give_up_branch"]
    assert variants and all(t.outcome == "given_up" for t in variants)
    mains = {t.id: t for t in trajs if "variant" not in t.meta}
    assert len(mains) == 13
    for v in variants:
        v.validate()
        main = mains.get(v.id.rsplit("-", 1)[0])
        assert main is None or main.steps != v.steps  # the final chain is not repeated
    # branches that call functions missing from the tool list keep those calls as rejected calls
    assert report.skipped == 0 and any(v.meta.get("rejected_calls") for v in variants)
