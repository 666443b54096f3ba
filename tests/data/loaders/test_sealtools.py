import json

import pytest

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.sealtools import load_sealtools, load_sealtools_catalogue
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

SEAL = "Seal-Tools/Seal-Tools_Dataset"
TOOLS = [
    {"api_name": "searchCrop", "api_description": "Search crops", "field": "Agriculture",
     "parameters": {"crop_name": {"type": "str", "description": "Crop"},
                    "limit": {"type": "int", "description": "Max results"}},
     "required": ["crop_name"],
     "responses": {"crop_info": {"type": "str", "description": "Info"},
                   "region": {"type": "str", "description": "Region"}}},
    {"api_name": "getResources", "api_description": "Resources in an area", "field": "Forestry",
     "parameters": {"location": {"type": "str", "description": "Where"}}, "required": ["location"],
     "responses": {"resources": {"type": "list", "description": "Found"}}},
]
NESTED = {"id": "dev-difficult-7", "query": "Find tomato info, then timber where it grows.", "calling": [
    {"api": "searchCrop", "parameters": {"crop_name": "Tomatoes"}, "responses": ["API_call_0", "API_call_1"]},
    {"api": "getResources", "parameters": {"location": "API_call_1"}, "responses": ["API_call_2"]}]}


def folder(tmp_path, lines, name="dev.jsonl"):
    (tmp_path / "tool.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TOOLS))
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_nested_reference_is_kept_and_resolved(tmp_path):
    [item] = load_sealtools(folder(tmp_path, [NESTED]))
    assert isinstance(item, CallItem)
    assert item.id == "sealtools-dev-difficult-7"
    assert item.calls == [ToolCall("searchCrop", {"crop_name": "Tomatoes"}),
                          ToolCall("getResources", {"location": "API_call_1"})]
    assert [t["name"] for t in item.tools] == ["searchCrop", "getResources"]
    assert item.tools[0]["parameters"]["properties"]["limit"] == {"type": "integer", "description": "Max results"}
    assert item.tools[0]["parameters"]["required"] == ["crop_name"]
    assert item.meta["references"] == [{"call": 1, "argument": "location", "value": "API_call_1",
                                        "label": "API_call_1", "from_call": 0, "output": "region"}]
    assert item.meta["split"] == "dev" and item.meta["difficulty"] == "difficult"


def test_failure_paths_name_file_and_line(tmp_path):
    unknown = {"id": "dev-easy-1", "query": "q", "calling": [{"api": "nope", "parameters": {}}]}
    no_query = {"id": "dev-easy-2", "calling": NESTED["calling"]}
    path = folder(tmp_path, [NESTED, "{not json", unknown, no_query], name="test_in_domain.jsonl")
    with pytest.raises(DataError) as e:
        list(load_sealtools(path))
    assert (e.value.line, e.value.path) == (2, str(path)) and "invalid JSON" in e.value.reason
    report = SkipReport()
    items = list(load_sealtools(path, skip_bad=True, report=report))
    assert [i.meta["split"] for i in items] == ["test"]
    assert report.skipped == 3
    assert f"{path}:3: record 2: calling[0] calls unknown tool 'nope'" in report.examples[1]
    assert f"{path}:4: record 3: missing field 'query'" in report.examples[2]


def test_missing_catalogue_is_an_error(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(NESTED) + "\n")
    with pytest.raises(DataError, match="no tool catalogue tool.jsonl"):
        list(load_sealtools(path))


def test_catalogue_via_either_function(tmp_path):
    folder(tmp_path, [])
    specs = list(load_sealtools(tmp_path / "tool.jsonl"))
    assert all(isinstance(s, ToolSpec) for s in specs)
    assert [s.tool["name"] for s in specs] == ["searchCrop", "getResources"]
    assert specs[0].meta["field"] == "Agriculture" and "region" in specs[0].meta["responses"]
    assert [s.tool for s in load_sealtools_catalogue(tmp_path / "tool.jsonl")] == [s.tool for s in specs]


def test_real_dev_and_test(data_root):
    dev = list(load_sealtools(data_root / SEAL / "dev.jsonl"))
    assert len(dev) == 700
    assert dev[0].calls == [ToolCall("getHealthWorkforce", {"location": "country", "occupation": "nurses"})]
    assert dev[0].tools[0]["parameters"]["required"] == ["location"]
    nested = next(i for i in dev if i.id == "sealtools-dev-difficult-200")
    assert nested.meta["references"][0] == {"call": 2, "argument": "location", "value": "API_call_1",
                                            "label": "API_call_1", "from_call": 1, "output": "crop_info"}
    test = list(load_sealtools(data_root / SEAL / "test_in_domain.jsonl"))
    assert len(test) == 700 and {i.meta["split"] for i in test} == {"test"}
    assert len(list(load_sealtools_catalogue(data_root / SEAL / "tool.jsonl"))) == 4076
