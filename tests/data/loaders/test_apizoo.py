"""Gorilla API Zoo docs as catalogue entries: names, argument types and requirement from the text."""

import json
from pathlib import Path

import pytest

from multiagentllm.data.loaders import SOURCES
from multiagentllm.data.loaders.apizoo import load_apizoo
from multiagentllm.io import DataError, SkipReport
from multiagentllm.tools.schema_check import check_tool_schema

DATA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets").resolve()
RECORD = {"user_name": "x", "api_name": "Google Forms - Forms.batchUpdate", "api_version": "1.0",
          "api_call": "form_service.forms().batchUpdate(formId=form_id, body=update).execute()",
          "api_arguments": {"formId": "Required. string: The form ID.", "mode": ["draft", "live"],
                            "options": {"notify": "Optional. boolean - e-mail the owner"}, "items": [{"a": 1}]},
          "functionality": "Change the form with a batch of updates.",
          "meta_data": {"description": "Groups changes in batches."}, "questions": ["Add a video item."]}


def test_record_becomes_a_checked_tool(tmp_path):
    path = tmp_path / "forms.json"
    path.write_text(json.dumps([RECORD]))
    (spec,) = load_apizoo(path)
    tool = spec.tool
    assert tool["name"] == "Google_Forms_Forms.batchUpdate"
    assert tool["description"] == "Change the form with a batch of updates. Groups changes in batches."
    props = tool["parameters"]["properties"]
    assert props["formId"] == {"type": "string", "description": "The form ID."}
    assert props["mode"] == {"enum": ["draft", "live"]} and props["items"] == {"type": "array"}
    assert props["options"]["properties"]["notify"] == {"type": "boolean", "description": "e-mail the owner"}
    assert tool["parameters"]["required"] == ["formId"]
    assert spec.meta["api_name"] == RECORD["api_name"] and spec.meta["questions"] == ["Add a video item."]
    check_tool_schema(tool)


def test_invalid_json_is_named_and_keeps_what_came_before(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([RECORD], indent=1)[:-2] + ",\n  {\"api_name\": \"b\",}\n]")
    with pytest.raises(DataError, match=r"broken.json:\d+: invalid JSON"):
        list(load_apizoo(path))
    report = SkipReport()
    assert len(list(load_apizoo(path, skip_bad=True, report=report))) == 1 and report.skipped == 1
    path.write_text(json.dumps([{**RECORD, "api_arguments": "formId"}]))
    with pytest.raises(DataError, match="record 0: 'api_arguments' must be an object"):
        list(load_apizoo(path))


def test_shipped_api_zoo():
    if not DATA.is_dir():
        pytest.skip("the shared datasets are not on this machine")
    report = SkipReport()
    specs = list(SOURCES["apizoo"].load(DATA, skip_bad=True, report=report))
    assert len(specs) > 4000 and report.skipped == 4  # the four community files that are not valid JSON
    for spec in specs:
        check_tool_schema(spec.tool)
