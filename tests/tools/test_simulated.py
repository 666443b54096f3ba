"""Simulated RapidAPI-style tools (record/replay cache) and Gorilla hub tools."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from multiagentllm.tools import ToolRegistry
from multiagentllm.tools.gorilla import GorillaHub, GorillaTool, gorilla_registry
from multiagentllm.tools.rapidapi import api_to_tool, rapidapi_registry
from multiagentllm.tools.simulated import ResponseCache, SimulatedTool, simulate

DATA = Path(os.environ.get("UMI_DATA_ROOT", Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"))

API = {"category_name": "Data", "tool_name": "TheClique", "api_name": "Transfermarkt search",
       "api_description": "Search by name", "method": "GET",
       "required_parameters": [{"name": "name", "type": "STRING", "description": "", "default": "messi"}],
       "optional_parameters": [{"name": "limit", "type": "NUMBER", "description": "max rows", "default": 5}],
       "template_response": {"Players": [{"name": "str", "link": "str", "age": "int", "_list_length": 10}],
                             "total": "int", "updated": "str"}}


def test_template_fill_is_deterministic_compact_and_echoes_arguments():
    a = simulate("t", {"name": "messi"}, API["template_response"])
    assert a == simulate("t", {"name": "messi"}, API["template_response"])
    assert a != simulate("t", {"name": "ronaldo"}, API["template_response"])
    assert len(a["Players"]) == 2 and a["Players"][0]["name"] == "messi"
    assert isinstance(a["total"], int) and a["updated"][:4] == "2024"
    # Seal-Tools style response fields
    b = simulate("s", {}, {"result": {"type": "str", "description": "x"}, "count": {"type": "int"}})
    assert isinstance(b["result"], str) and isinstance(b["count"], int)
    assert simulate("e", {"q": 1}, None) == {"status": "success", "api": "e", "q": 1}


def test_cache_records_then_replays(tmp_path):
    path = tmp_path / "cache.json"
    rec = ResponseCache(path, mode="record")
    reg = rapidapi_registry([API], cache=rec)
    name = api_to_tool(API)["name"]
    assert name == "transfermarkt_search_for_theclique"
    first = reg.call(name, {"name": "messi"})
    assert first.ok
    rec.save()
    assert json.loads(path.read_text())  # written
    # a replay uses the recorded response even if simulation changed: tamper with the template
    replay = ResponseCache(path, mode="replay")
    tool = SimulatedTool(reg.get(name).schema, {"other": "str"}, cache=replay)
    reg2 = ToolRegistry(default_timeout=None)
    reg2.register(tool)
    assert reg2.call(name, {"name": "messi"}).content == first.content
    miss = reg2.call(name, {"name": "pele"})
    assert not miss.ok and "no recorded response" in miss.error


def test_cache_modes_are_checked(tmp_path):
    with pytest.raises(ValueError):
        ResponseCache(tmp_path / "c.json", mode="bogus")
    with pytest.raises(FileNotFoundError):
        ResponseCache(tmp_path / "missing.json", mode="replay")


def test_simulated_tool_arguments_are_validated():
    reg = rapidapi_registry([API])
    name = api_to_tool(API)["name"]
    assert "missing required" in reg.call(name, {}).error
    assert "must be number" in reg.call(name, {"name": "x", "limit": "5"}).error


DOCS = [{"domain": "Classification", "framework": "PyTorch", "functionality": "Image classification",
         "api_name": "ResNet", "api_call": "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)",
         "description": "Deep residual networks pre-trained on ImageNet.",
         "performance": {"dataset": "ImageNet", "accuracy": {"top-1": 76.1}}},
        {"domain": "Detection", "framework": "PyTorch", "functionality": "Object detection", "api_name": "YOLOv5",
         "api_call": "torch.hub.load('ultralytics/yolov5', 'yolov5s', pretrained=True)", "description": "YOLO."}]


def test_gorilla_tool_reports_what_would_load_from_the_docs():
    hub = GorillaHub(DOCS)
    schema = {"name": "torch.hub.load", "description": "", "parameters": {"type": "object", "properties": {
        "repo_or_dir": {"type": "string"}, "model": {"type": "string"}, "pretrained": {"type": "boolean"}},
        "required": ["repo_or_dir", "model"]}}
    reg = ToolRegistry(default_timeout=None)
    reg.register(GorillaTool(schema, hub))
    obs = reg.call("torch.hub.load", {"repo_or_dir": "ultralytics/yolov5", "model": "yolov5s", "pretrained": True})
    assert obs.ok and obs.data["loaded"] == "YOLOv5" and obs.data["functionality"] == "Object detection"
    bad = reg.call("torch.hub.load", {"repo_or_dir": "pytorch/vision", "model": "resnet5"})
    assert not bad.ok and "no documented torch.hub.load API" in bad.error and "resnet50" in bad.error


@pytest.mark.skipif(not (DATA / "gorilla/data/api/torchhub_api.jsonl").exists(), reason="datasets not available")
def test_gorilla_registry_from_the_real_api_docs():
    reg = gorilla_registry([DATA / "gorilla/data/api/torchhub_api.jsonl"])
    assert "torch.hub.load" in reg
    obs = reg.call("torch.hub.load", {"repo_or_dir": "pytorch/vision", "model": "resnet50", "pretrained": True})
    assert obs.ok and obs.data["framework"] == "PyTorch"
