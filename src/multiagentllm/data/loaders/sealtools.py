"""Seal-Tools (`Seal-Tools/Seal-Tools_Dataset/`) -> `CallItem`s and catalogue `ToolSpec`s.

* `tool.jsonl`: one API per line, `{api_name, api_description, field, parameters: {name:
  {type, description}}, required, responses: {name: {type, description}}}`.
* `dev.jsonl`, `test_in_domain.jsonl` (and `train.jsonl` / `test_out_domain.jsonl` where
  present): `{id, query, calling: [{api, parameters, responses}]}` with the exact gold calls.

`responses` names each output of a call in order (`["API_call_0", "API_call_1"]` for an API
with two response fields).  A nested call passes an earlier output as an argument by writing
that name (`"location": "API_call_1"`, sometimes `"API_call_0 response"`).  The arguments are
kept exactly as written; `meta["references"]` resolves each such reference to the call index and
the response field it names, and `meta["responses"]` keeps the output names of every call.

The catalogue is read once per folder (`tool.jsonl` beside the data file).  An item offers the
tools it calls, in call order (Seal-Tools' own evaluation offers retrieved tools; retrieval is
not part of this loader).  `load_sealtools` pointed at `tool.jsonl` yields the catalogue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.jsonfiles import convert_each, iter_json_records
from multiagentllm.data.loaders.paramschema import object_schema
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import ToolCall, normalize_tool

SOURCE = "sealtools"
CATALOGUE = "tool.jsonl"
_REF = re.compile(r"\bAPI_call_(\d+)\b")
_SPLITS = {"dev": "dev", "test": "test"}


def load_sealtools(path: str | os.PathLike, *, skip_bad: bool = False,
                   report: SkipReport | None = None) -> Iterator[CallItem | ToolSpec]:
    """Read a Seal-Tools data file (or, given `tool.jsonl`, the catalogue)."""
    path = Path(path)
    if path.name == CATALOGUE:
        yield from load_sealtools_catalogue(path, skip_bad=skip_bad, report=report)
        return
    catalogue_path = path.parent / CATALOGUE
    if not catalogue_path.is_file():
        raise DataError(path, None, f"no tool catalogue {CATALOGUE} beside the data file")
    catalogue = _catalogue(str(catalogue_path.resolve()), catalogue_path.stat().st_mtime_ns)
    split = _SPLITS.get(path.stem.split("_")[0])

    def convert(rec: Any, index: int) -> list[CallItem]:
        return [_item(rec, catalogue, split)]

    yield from convert_each(path, convert, skip_bad=skip_bad, report=report)


def load_sealtools_catalogue(path: str | os.PathLike, *, skip_bad: bool = False,
                             report: SkipReport | None = None) -> Iterator[ToolSpec]:
    """`tool.jsonl` -> one `ToolSpec` per API (`meta`: field, response schema, example)."""

    def convert(rec: Any, index: int) -> list[ToolSpec]:
        tool = api_tool(rec)
        meta = {"field": rec.get("field", ""), "responses": rec.get("responses") or {}}
        if "example" in rec:
            meta["example"] = rec["example"]
        return [ToolSpec(source=SOURCE, tool=tool, meta=meta)]

    return convert_each(path, convert, skip_bad=skip_bad, report=report)


def api_tool(rec: Any) -> dict[str, Any]:
    """One `tool.jsonl` record -> OpenAI function schema."""
    if not isinstance(rec, dict):
        raise ValueError(f"tool record must be an object, got {type(rec).__name__}")
    name = rec["api_name"]
    required = rec.get("required") or []
    if not isinstance(required, list):
        raise ValueError(f"API {name!r}: 'required' must be a list")
    params = object_schema(rec.get("parameters") or {}, required=required)
    return normalize_tool({"name": name, "description": rec.get("api_description", ""),
                           "parameters": params}, where=f"API {name!r}")


@cache
def _catalogue(path: str, mtime_ns: int) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """API name -> (tool schema, response field names).  A bad catalogue line is an error: the
    items that call it could not be checked."""
    out: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for line, _, rec in iter_json_records(path):
        try:
            tool = api_tool(rec)
        except (KeyError, ValueError) as e:
            raise DataError(path, line, f"bad tool record: {e}") from None
        out.setdefault(tool["name"], (tool, list((rec.get("responses") or {}).keys())))
    return out


def _item(rec: Any, catalogue: dict[str, tuple[dict[str, Any], list[str]]],
          split: str | None) -> CallItem:
    if not isinstance(rec, dict):
        raise ValueError(f"record must be an object, got {type(rec).__name__}")
    rid, query, calling = rec["id"], rec["query"], rec["calling"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("'query' must be a non-empty string")
    if not isinstance(calling, list) or not calling:
        raise ValueError("'calling' must be a non-empty list")
    calls: list[ToolCall] = []
    responses: list[list[str]] = []
    for i, c in enumerate(calling):
        if not isinstance(c, dict) or not isinstance(c.get("api"), str):
            raise ValueError(f"calling[{i}] must be an object with a string 'api'")
        args = c.get("parameters") or {}
        if not isinstance(args, dict):
            raise ValueError(f"calling[{i}].parameters must be an object")
        if c["api"] not in catalogue:
            raise ValueError(f"calling[{i}] calls unknown tool {c['api']!r} (not in {CATALOGUE})")
        calls.append(ToolCall(c["api"], args))
        responses.append([str(r) for r in c.get("responses") or []])
    tools = [catalogue[name][0] for name in dict.fromkeys(c.name for c in calls)]
    meta: dict[str, Any] = {"responses": responses, "references": _references(calls, responses, catalogue)}
    difficulty = str(rid).split("-")[1] if str(rid).count("-") >= 2 else None
    if difficulty:
        meta["difficulty"] = difficulty
    if split:
        meta["split"] = split
    return CallItem(id=f"{SOURCE}-{rid}", source=SOURCE, instruction=query.strip(), tools=tools,
                    calls=calls, meta=meta)


def _references(calls: list[ToolCall], responses: list[list[str]],
                catalogue: dict[str, tuple[dict[str, Any], list[str]]]) -> list[dict[str, Any]]:
    """Every argument that names an earlier call's output, resolved to that call and field."""
    producer: dict[str, tuple[int, str | None]] = {}
    for j, outs in enumerate(responses):
        fields = catalogue[calls[j].name][1]
        for k, label in enumerate(outs):
            producer[label] = (j, fields[k] if k < len(fields) else None)
    refs = []
    for i, call in enumerate(calls):
        for arg, value in call.arguments.items():
            for m in _REF.finditer(str(value)):
                label = f"API_call_{m.group(1)}"
                j, field = producer.get(label, (None, None))
                refs.append({"call": i, "argument": arg, "value": value, "label": label,
                             "from_call": j, "output": field})
    return refs
