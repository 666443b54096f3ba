import json

import pytest

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.toolalpaca import load_public_apis, load_toolalpaca
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall

DOC = {"openapi": "3.0.0", "paths": {
    "/anime": {"get": {"operationId": "searchAnime", "summary": "Search anime by title.",
                       "parameters": [{"name": "query", "in": "query", "required": True,
                                       "schema": {"type": "string"}, "description": "Title"}]}},
    "/anime/{animeId}/cast": {
        "parameters": [{"$ref": "#/components/parameters/AnimeId"}],
        "get": {"description": "Cast and crew of an anime."},
        "post": {"operationId": "addCast", "requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Cast"}}}}}}},
    "components": {"parameters": {"AnimeId": {"name": "animeId", "in": "path", "required": True,
                                              "schema": {"type": "integer"}}},
                   "schemas": {"Cast": {"type": "object", "required": ["name"], "properties": {
                       "name": {"type": "string"}, "role": {"type": "string", "enum": ["lead", "support"]}}}}}}


def api(instructions, answers, **extra):
    return {"Name": "AniAPI", "Category": "Anime", "Documentation": json.dumps(DOC),
            "Function_Projection": {"searchAnime": ["/anime", "get"]},
            "Instructions": instructions, "Golden_Answers": answers, **extra}


def write(tmp_path, records, name="eval_simulated.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, indent=1))
    return path


def test_openapi_operations_become_tools_and_golden_answers_calls(tmp_path):
    rec = api(["Find Naruto's cast."], [[
        {"Action": "searchAnime", "Action_Input": '{"query": "Naruto"}'},
        {"Action": "anime_animeId_cast_get", "Action_Input": '{"animeId": ${animeId from searchAnime}}'}]],
        external_tools=["datetime"])
    [item] = load_toolalpaca(write(tmp_path, [rec]))
    assert isinstance(item, CallItem) and item.id == "toolalpaca-eval_simulated-0-0"
    tools = {t["name"]: t for t in item.tools}
    assert list(tools) == ["searchAnime", "anime_animeId_cast_get", "addCast", "getDetails", "getCurrentDateTime"]
    assert tools["searchAnime"]["parameters"] == {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string", "description": "Title"}}}
    assert tools["anime_animeId_cast_get"]["parameters"]["properties"]["animeId"]["type"] == "integer"
    add = tools["addCast"]["parameters"]
    assert add["required"] == ["animeId", "name"] and add["properties"]["role"]["enum"] == ["lead", "support"]
    assert item.calls == [ToolCall("searchAnime", {"query": "Naruto"}),
                          ToolCall("anime_animeId_cast_get", {"animeId": "${animeId from searchAnime}"})]
    assert item.meta["placeholders"] == [{"call": 1, "argument": "animeId", "value": "${animeId from searchAnime}"}]
    assert item.meta["functions"]["addCast"] == ["/anime/{animeId}/cast", "post"]
    assert item.meta["split"] == "test"


def test_optional_marker_and_doubled_key_repair(tmp_path):
    rec = api(["a", "b"], [
        [{"Action": "[Optional]searchAnime", "Action_Input": '{"query": "x"}'}],
        [{"Action": "addCast", "Action_Input": '{"name": "name": "Ann"}'}]])
    first, second = load_toolalpaca(write(tmp_path, [rec]))
    assert first.calls == [ToolCall("searchAnime", {"query": "x"})] and first.meta["optional"] == [0]
    assert second.calls == [ToolCall("addCast", {"name": "Ann"})] and second.meta["repaired"] == [0]


def test_one_bad_instruction_does_not_lose_the_others(tmp_path):
    rec = api(["good", "unknown function", "not json"], [
        [{"Action": "searchAnime", "Action_Input": "{}"}],
        [{"Action": "deleteEverything", "Action_Input": "{}"}],
        [{"Action": "searchAnime", "Action_Input": '{"query": [}'}]])
    path = write(tmp_path, [rec])
    with pytest.raises(DataError, match="instruction 1: action 0 calls unknown function 'deleteEverything'") as e:
        list(load_toolalpaca(path))
    assert e.value.line == 2 and e.value.path == str(path)
    report = SkipReport()
    items = list(load_toolalpaca(path, skip_bad=True, report=report))
    assert [i.instruction for i in items] == ["good"]
    assert report.skipped == 2 and "does not read as JSON" in report.examples[1]


def test_record_level_failures(tmp_path):
    missing = {k: v for k, v in api(["a"], [[]]).items() if k != "Documentation"}
    mismatch = api(["a", "b"], [[]])
    bad_doc = {**api(["a"], [[]]), "Documentation": "{not json"}
    path = write(tmp_path, [missing, mismatch, bad_doc])
    report = SkipReport()
    assert list(load_toolalpaca(path, skip_bad=True, report=report)) == []
    assert report.skipped == 3
    assert "missing field 'Documentation'" in report.examples[0]
    assert "2 instructions but 1 golden answers" in report.examples[1]
    assert "'Documentation' is not JSON" in report.examples[2]
    (tmp_path / "broken.json").write_text('[{"Name": "x",}]')
    with pytest.raises(DataError, match="invalid JSON"):
        list(load_toolalpaca(tmp_path / "broken.json"))


def test_public_apis(tmp_path):
    path = tmp_path / "public_apis.json"
    path.write_text(json.dumps({"count": 3, "entries": [
        {"API": "Cat Facts", "Description": "Daily cat facts", "Auth": "", "HTTPS": True,
         "Cors": "no", "Link": "https://x", "Category": "Animals"},
        {"API": "", "Description": "nameless"},
        {"API": "1Forge", "Description": "Forex", "Category": "Finance"}]}))
    with pytest.raises(DataError, match=r"entries\[1\]"):
        list(load_public_apis(path))
    report = SkipReport()
    specs = list(load_toolalpaca(path, skip_bad=True, report=report))
    assert all(isinstance(s, ToolSpec) for s in specs) and report.skipped == 1
    assert [s.tool["name"] for s in specs] == ["Cat_Facts", "api_1Forge"]
    assert specs[0].meta["api"] == "Cat Facts" and specs[0].meta["category"] == "Animals"


def test_real_eval_sets(data_root):
    sim = list(load_toolalpaca(data_root / "ToolAlpaca/data/eval_simulated.json"))
    assert len(sim) == 100
    assert sim[0].instruction == "Hey, can you show me a random picture of an axolotl?"
    assert sim[0].calls == [ToolCall("getRandomAxolotlImage", {})]
    assert sim[1].calls == [ToolCall("searchAxolotlImages", {"color": "wild", "gender": "", "size": "medium", "page": 1})]
    real = list(load_toolalpaca(data_root / "ToolAlpaca/data/eval_real.json"))
    assert len(real) == 114  # all golden answers read, incl. AviationAPI's nested paths
    aviation = [i for i in real if i.meta["api"] == "AviationAPI"]
    assert any(c.name == "weather_metar_get" for i in aviation for c in i.calls)
    assert all(c.name in {t["name"] for t in i.tools} for i in sim + real for c in i.calls)
    assert len(list(load_public_apis(data_root / "ToolAlpaca/data/public_apis.json"))) == 1425
