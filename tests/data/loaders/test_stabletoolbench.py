"""StableToolBench queries: api_list entries -> tool schemas, queries -> CallItems, catalogue."""

import json

import pytest

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.stabletoolbench import compact_description, load_queries, unique_name
from multiagentllm.io import DataError, SkipReport
from multiagentllm.tools.rapidapi import api_to_tool, function_name

API = {"category_name": "Data", "tool_name": "TheClique", "api_name": "Songkick concert",
       "api_description": "Concert info",
       "required_parameters": [{"name": "id", "type": "STRING", "description": "Concert id",
                                "default": "40698227-lumineers"}],
       "optional_parameters": [{"name": "page", "type": "NUMBER", "description": "", "default": ""},
                               {"name": "date", "type": "DATE (YYYY-MM-DD)", "description": "Day"},
                               {"name": "geo", "type": "GEOPOINT (latitude, longitude)", "description": ""}],
       "method": "GET", "template_response": {"name": "str", "date": "str"}}


def query(qid, apis, relevant=None, text="Find the concert."):
    return {"query": text, "query_id": qid, "api_list": apis, "relevant APIs": relevant or []}


def write(tmp_path, records, name="G1_instruction.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, indent=4))
    return path


def test_api_to_tool_follows_toolbench_names_and_json_schema():
    tool = api_to_tool(API)
    assert tool["name"] == "songkick_concert_for_theclique"
    assert tool["description"] == "Concert info"
    props = tool["parameters"]["properties"]
    assert list(props) == ["is_id", "page", "date", "geo"]  # `id` is renamed as ToolBench does
    assert tool["parameters"]["required"] == ["is_id"]
    assert props["is_id"] == {"type": "string", "description": "Concert id", "examples": ["40698227-lumineers"]}
    assert props["page"] == {"type": "number", "description": ""}
    assert props["date"] == {"type": "string", "description": "Day (DATE (YYYY-MM-DD))"}
    assert props["geo"] == {"description": "(type: GEOPOINT (latitude, longitude))"}


def test_function_names_are_snake_case_with_toolbench_prefix_and_length_rules():
    assert function_name("Simple YouTube Search", "Video/Info (v2)") == "video_info_v2_for_simple_youtube_search"
    assert function_name("168predict VIP", "1X2 odds") == "get_1x2_odds_for_get_168predict_vip"
    long = function_name("A very long tool name that goes on and on", "an even longer endpoint name here")
    assert len(long) == 64 and long.endswith("_for_a_very_long_tool_name_that_goes_on_and_on")
    assert unique_name("x_for_t", {"x_for_t"}) == "x_for_t_2"
    assert unique_name("x_for_t", {"x_for_t", "x_for_t_2"}) == "x_for_t_3"
    assert unique_name("y" * 64, {"y" * 64}) == "y" * 62 + "_2"


def test_compact_description_drops_the_boilerplate():
    wrapped = 'This is the subfunction for tool "moodring", you can use this tool.The description of this ' \
              'function is: "Get one quiz by quizId."'
    assert compact_description(wrapped) == "Get one quiz by quizId."
    assert compact_description('This is the subfunction for tool "moodring", you can use this tool.') == \
        'An endpoint of the "moodring" API.'
    assert compact_description("Plain text.") == "Plain text."


def test_query_becomes_tools_item_and_catalogue_once_per_file(tmp_path):
    other = {**API, "api_name": "Transfermarkt search", "template_response": None}
    path = write(tmp_path, [query(5, [API, other], [["TheClique", "Songkick concert"]]),
                            query(6, [API], text="Again.")])
    recs = list(load_queries(path))
    specs = [r for r in recs if isinstance(r, ToolSpec)]
    items = [r for r in recs if isinstance(r, CallItem)]
    assert [s.tool["name"] for s in specs] == ["songkick_concert_for_theclique", "transfermarkt_search_for_theclique"]
    assert specs[0].meta["template_response"] == {"name": "str", "date": "str"} and specs[0].meta["method"] == "GET"
    assert [i.id for i in items] == ["stabletoolbench-G1_instruction-5", "stabletoolbench-G1_instruction-6"]
    assert items[0].calls == [] and items[0].meta["relevant_apis"] == ["songkick_concert_for_theclique"]
    assert "relevant_apis" not in items[1].meta
    assert len(items[0].tools) == 2 and items[1].tools == [specs[0].tool]


def test_name_collisions_after_cutting_get_numbers(tmp_path):
    tool = "168predict VIP Football Predictions"
    a = {**API, "tool_name": tool, "api_name": "Today Sure VIP BTTS/Goal Goal"}
    b = {**API, "tool_name": tool, "api_name": "Yesterday Sure VIP BTTS/Goal Goal"}
    (sa, sb, item) = load_queries(write(tmp_path, [query(1, [a, b, a], [[tool, b["api_name"]]])]))
    assert sa.tool["name"] != sb.tool["name"] and sb.tool["name"].endswith("_2")
    assert len(item.tools) == 2  # the repeated endpoint is listed once
    assert item.meta["relevant_apis"] == [sb.tool["name"]]


@pytest.mark.parametrize("record, reason", [
    ({"query_id": 1, "api_list": [API]}, "missing field 'query'"),
    ({"query": "q", "api_list": []}, "'api_list' must be a non-empty list"),
    ({"query": "q", "api_list": [{"tool_name": "T"}]}, "api_list[0]: missing field 'api_name'"),
    (query(1, [API], [["TheClique", "Nope"]]), "relevant API ['TheClique', 'Nope'] is not in the query's api_list"),
])
def test_bad_records_name_file_and_line(tmp_path, record, reason):
    path = tmp_path / "q.jsonl"  # JSONL works as well as a JSON array
    path.write_text(json.dumps(query(0, [API])) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError) as e:
        list(load_queries(path))
    assert e.value.path == str(path) and e.value.line == 2 and reason in str(e.value)


def test_invalid_json_and_skip_bad(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(query(0, [API])) + "\n{not json\n" + json.dumps(query(2, [API])) + "\n")
    with pytest.raises(DataError, match=r"q\.jsonl:2: invalid JSON"):
        list(load_queries(path))
    report = SkipReport()
    items = [r for r in load_queries(path, skip_bad=True, report=report) if isinstance(r, CallItem)]
    assert [i.meta["query_id"] for i in items] == [0, 2] and report.skipped == 1


def test_real_solvable_queries(data_root):
    files = sorted((data_root / "StableToolBench" / "solvable_queries" / "test_instruction").glob("*.json"))
    assert [f.stem for f in files] == ["G1_instruction", "G1_tool", "G2_instruction", "G3_instruction"]
    for path in files:
        recs = list(load_queries(path))
        items = [r for r in recs if isinstance(r, CallItem)]
        specs = [r for r in recs if isinstance(r, ToolSpec)]
        assert len(items) == len(json.loads(path.read_text()))
        keys = [(s.tool["name"], s.meta["tool_name"], s.meta["api_name"]) for s in specs]
        assert len(keys) == len(set(keys))
        assert any(s.meta["template_response"] for s in specs)
        for item in items:
            names = [t["name"] for t in item.tools]
            assert len(names) == len(set(names)) and all(len(n) <= 64 for n in names)
            assert set(item.meta.get("relevant_apis", [])) <= set(names)
