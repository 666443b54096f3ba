import json

import pytest

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.nestful import load_nestful
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

SPECS = [
    {"name": "SearchAirport", "description": "Find airports.",
     "query_parameters": {"query": {"type": "String", "description": "Place", "required": True}},
     "output_parameters": {"skyId": {"type": "string", "description": "Airport id"}}},
    {"name": "FlightSearch", "description": "Flights between airports.",
     "query_parameters": {"origin": {"type": "string", "required": True, "description": "From"},
                          "cabin": {"type": "Enum", "enum": ["economy", "first"], "required": False,
                                    "description": "Class"}},
     "path_parameters": {"version": {"type": "Number", "required": True, "description": "API version"}},
     "output_parameters": {"flights": {"type": "array", "description": "Flights"}}},
]
SAMPLE = {"input": "Flights from Paris.", "output": [
    {"name": "SearchAirport", "arguments": {"query": "Paris"}, "label": "var1"},
    {"name": "FlightSearch", "arguments": {"origin": "$var1.skyId$", "version": 3}, "label": "var2"},
    {"name": "var_result", "arguments": {"flights": "$var2$"}}]}


def v1(tmp_path, samples, specs=SPECS):
    (tmp_path / "demo-spec.json").write_text(json.dumps(specs, indent=1))
    path = tmp_path / "demo-data.json"
    path.write_text(json.dumps(samples, indent=1))
    return path


def test_v1_sample_with_sibling_specs(tmp_path):
    [item] = load_nestful(v1(tmp_path, [SAMPLE]))
    assert isinstance(item, CallItem) and item.id == "nestful-demo-data-0"
    assert item.calls == [ToolCall("SearchAirport", {"query": "Paris"}),
                          ToolCall("FlightSearch", {"origin": "$var1.skyId$", "version": 3})]
    assert [t["name"] for t in item.tools] == ["SearchAirport", "FlightSearch"]
    params = item.tools[1]["parameters"]
    assert params["required"] == ["version", "origin"]
    assert params["properties"]["cabin"] == {"type": "string", "description": "Class", "enum": ["economy", "first"]}
    assert params["properties"]["version"]["type"] == "number"
    assert item.meta["labels"] == ["var1", "var2"]
    assert item.meta["references"] == [{"call": 1, "argument": "origin", "value": "$var1.skyId$",
                                        "label": "var1", "from_call": 0, "field": "skyId"}]
    assert item.meta["result"] == {"flights": "$var2$"}
    assert item.meta["outputs"]["SearchAirport"] == {"skyId": {"type": "string", "description": "Airport id"}}


def test_v2_jsonl_with_tools_per_sample(tmp_path):
    tools = [{"name": "divide", "description": "divides two numbers",
              "parameters": {"arg_0": {"description": "The first number", "type": "int or float"},
                             "arg_1": {"description": "The second number", "type": "int or float"}},
              "output_parameter": {"result": {"description": "quotient", "type": "int or float"}}},
             {"name": "count_words", "description": "Counts words.",
              "parameters": {"properties": {"s": {"type": "string", "description": "Text"}},
                             "required": ["s"], "type": "object"}}]
    rec = {"sample_id": "a5ae", "input": "What is 20/100, halved?", "tools": tools, "gold_answer": 0.1,
           "output": [{"name": "divide", "label": "$var_1", "arguments": {"arg_0": 20, "arg_1": 100}},
                      {"name": "divide", "label": "$var_2", "arguments": {"arg_0": "$var_1.result$", "arg_1": 2}}]}
    path = tmp_path / "nestful_data.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    [item] = load_nestful(path)
    assert item.id == "nestful-a5ae" and item.meta["gold_answer"] == 0.1
    assert [t["name"] for t in item.tools] == ["divide", "count_words"]  # all tools of the sample
    assert item.tools[0]["parameters"]["properties"]["arg_0"]["type"] == "number"
    assert item.tools[1]["parameters"]["required"] == ["s"]
    assert item.meta["references"][0]["from_call"] == 0 and item.meta["references"][0]["field"] == "result"


def test_failure_paths(tmp_path):
    unknown = {"input": "x", "output": [{"name": "Teleport", "arguments": {}}]}
    only_result = {"input": "x", "output": [{"name": "var_result", "arguments": {}}]}
    no_input = {"output": SAMPLE["output"]}
    path = v1(tmp_path, [SAMPLE, unknown, only_result, no_input])
    with pytest.raises(DataError, match="calls unknown API 'Teleport'") as e:
        list(load_nestful(path))
    starts = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == " {"]
    assert e.value.line == starts[1]
    report = SkipReport()
    assert len(list(load_nestful(path, skip_bad=True, report=report))) == 1
    assert report.skipped == 3
    assert "holds no call" in report.examples[1] and "missing field 'input'" in report.examples[2]
    lonely = tmp_path / "lonely-data.json"
    lonely.write_text(json.dumps([SAMPLE]))
    with pytest.raises(DataError, match="no \\*-spec.json beside the file"):
        list(load_nestful(lonely))
    (tmp_path / "bad.jsonl").write_text(json.dumps({**SAMPLE, "tools": SPECS}) + "\n{oops\n")
    with pytest.raises(DataError, match="invalid JSON") as e:
        list(load_nestful(tmp_path / "bad.jsonl"))
    assert e.value.line == 2


def test_spec_file_is_a_catalogue(tmp_path):
    v1(tmp_path, [])
    specs = list(load_nestful(tmp_path / "demo-spec.json"))
    assert all(isinstance(s, ToolSpec) for s in specs) and [s.tool["name"] for s in specs] == ["SearchAirport", "FlightSearch"]


def test_real_files(data_root):
    ex = list(load_nestful(data_root / "NESTFUL/data/executable/executable-data.json"))
    assert len(ex) == 85
    assert [c.name for c in ex[0].calls] == ["SkyScrapperSearchAirport", "SkyScrapperSearchAirport",
                                             "SkyScrapperFlightSearch", "TripadvisorSearchLocation",
                                             "TripadvisorSearchHotels"]
    assert ex[0].calls[2].arguments["originSkyId"] == "$var1.skyId$"
    assert ex[0].meta["result"] == {"flights": "$var3$", "hotels": "$var5$"}
    assert all(r["from_call"] is not None for i in ex for r in i.meta["references"])
    report = SkipReport()
    glaive = list(load_nestful(data_root / "NESTFUL/data/non-executable/non-executable-glaive-data.json",
                               skip_bad=True, report=report))
    assert len(glaive) + report.skipped == 169 and report.skipped == 10  # calls to APIs missing from the spec
    assert len(list(load_nestful(data_root / "NESTFUL/data/non-executable/non-executable-sgd-data.json"))) == 46
