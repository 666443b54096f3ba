"""Gorilla API Zoo (`gorilla/data/apizoo/*.json`): about 4,000 community API docs (Google
Workspace, Kubernetes, Zoom, Datadog, ServiceNow, Oracle, yfinance, ...) for the tool catalogue.

Each record (`api_name`, `api_call`, `api_arguments`, `functionality`, optional `meta_data` /
`metadata` description and example `questions`) becomes one `ToolSpec`:

* name: `api_name` with every run of characters a tool name cannot hold turned into `_`
  ("Google Forms - Forms.batchUpdate" -> "Google_Forms_Forms.batchUpdate"), cut to 64 (names
  repeat across contributors' files; the original stays in `meta`);
* description: `functionality`, then the metadata description when it adds to it;
* parameters: one property per `api_arguments` key: a text value is its description, and where it
  starts with "Required"/"[REQUIRED]" the argument is required, where it then names a type
  ("string: The UUID ...") that is its type (no type is invented otherwise); a list of plain values
  is its `enum`, other lists an array; an object a nested object of the same kind;
* meta: the original name, `api_call`, the example `questions` and the file.

The API Zoo is community-written: four of its files are not valid JSON (a trailing comma, an
unquoted key). As for every JSON array, reading stops at the error, which names file and line
(`--skip-bad` keeps the records before it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import ToolSpec
from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.io import SkipReport

SOURCE = "apizoo"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.]+")
_REQUIRED = re.compile(r"^\s*\[?(required|optional)\]?[\s.:,-]*", re.IGNORECASE)
_TYPE = re.compile(r"^(string|integer|int|number|float|boolean|bool|array|list|object)\b\s*[:-]?\s*", re.IGNORECASE)
_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "list": "array"}


def tool_name(api_name: str) -> str:
    return _NOT_NAME.sub("_", api_name).strip("_")[:64] or "api"


def _property(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        text = _REQUIRED.sub("", " ".join(value.split()), count=1)
        typed = _TYPE.match(text)
        if typed:
            name = typed.group(1).lower()
            return {"type": _TYPES.get(name, name), "description": text[typed.end():] or text}
        return {"description": text}
    if isinstance(value, list):
        if all(isinstance(v, (str, int, float, bool)) for v in value) and value:
            return {"enum": value}
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _property(v, f"{where}.{k}") for k, v in value.items()}}
    if isinstance(value, (int, float, bool)) or value is None:
        return {"description": f"e.g. {value!r}"}
    raise ValueError(f"{where}: an argument must be described by text, a list of values or an object")


def _required(value: Any) -> bool:
    return isinstance(value, str) and bool(m := _REQUIRED.match(value)) and m.group(1).lower() == "required"


def record_tool(rec: Any) -> ToolSpec:
    if not isinstance(rec, dict):
        raise ValueError("an API Zoo record must be an object")
    name, functionality = rec["api_name"], rec["functionality"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'api_name' must be non-empty text")
    args = rec.get("api_arguments") or {}
    if not isinstance(args, dict):
        raise ValueError("'api_arguments' must be an object")
    properties = {k: _property(v, f"api_arguments.{k}") for k, v in args.items()}
    required = [k for k, v in args.items() if _required(v)]
    meta_doc = rec.get("meta_data") or rec.get("metadata") or {}
    description = " ".join(str(functionality or "").split())
    extra = " ".join(str(meta_doc.get("description", "")).split()) if isinstance(meta_doc, dict) else ""
    if extra and extra not in description:
        description = f"{description} {extra}".strip()
    tool = {"name": tool_name(name), "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}
    return ToolSpec(source=SOURCE, tool=tool, meta={"api_name": name, "api_call": rec.get("api_call"),
                                                    "questions": rec.get("questions") or []})


def load_apizoo(path: str | os.PathLike, *, skip_bad: bool = False,
                report: SkipReport | None = None) -> Iterator[ToolSpec]:
    """The catalogue entries of one API Zoo file (see the module docstring)."""
    path = Path(path)

    def convert(rec: Any, index: int) -> list[ToolSpec]:
        spec = record_tool(rec)
        spec.meta["file"] = path.name
        return [spec]

    return convert_each(path, convert, skip_bad=skip_bad, report=report)
