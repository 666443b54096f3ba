"""NESTFUL (IBM) nested call sequences -> `CallItem`s.

Two layouts are read:

* v1 (`data/executable/executable-data.json`, `data/non-executable/*-data.json`): a JSON array
  of `{input, output: [{name, arguments, label}]}`; the API specs are in the sibling file
  `*-spec.json` (`{name, description, query_parameters | path_parameters | parameters |
  arguments, output_parameters}`), read once per file.  Given a spec file, the loader yields its
  APIs as `ToolSpec`s.
* v2 (`data_v2/*.jsonl`): `{sample_id, input, output, tools: [...], gold_answer}` with the specs
  in each sample.

A call's argument may use an earlier call's output: `"$var1.skyId$"` is field `skyId` of the
output of the call labelled `var1` (`"$var1$"` is the whole output).  These strings are kept in
the gold arguments exactly as written; `meta["labels"]` holds each call's label and
`meta["references"]` resolves every reference to the index of the call it reads.  The final
`var_result` entry is not a call: it maps answer fields to outputs and is kept as
`meta["result"]` (v2's `gold_answer` as `meta["gold_answer"]`).

An item offers the tools its calls use (v2: all tools of the sample), from the specs; a call to
an API missing from them is a bad record.  Output schemas are kept in `meta["outputs"]`, since
writing a reference needs the output field names.  All items are `meta["split"] = "test"`.
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

SOURCE = "nestful"
RESULT = "var_result"
_PARAM_KEYS = ("path_parameters", "query_parameters", "parameters", "arguments")
_REF = re.compile(r"\$([A-Za-z_]\w*)((?:\.[^$]*)?)\$")

Spec = tuple[dict[str, Any], dict[str, Any]]  # (tool schema, output parameters)


def load_nestful(path: str | os.PathLike, *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[CallItem | ToolSpec]:
    """Read a NESTFUL data file (v1 or v2), or a v1 spec file as a catalogue."""
    path = Path(path)
    if path.name.endswith("-spec.json"):
        yield from convert_each(path, lambda rec, i: [_spec_toolspec(rec)],
                                skip_bad=skip_bad, report=report)
        return
    spec_path = path.with_name(path.name.replace("-data.json", "-spec.json"))
    specs: dict[str, Spec] | None = None
    if spec_path != path and spec_path.is_file():
        specs = _specs(str(spec_path.resolve()), spec_path.stat().st_mtime_ns)

    def convert(rec: Any, index: int) -> list[CallItem]:
        return [_item(path, rec, index, specs)]

    yield from convert_each(path, convert, skip_bad=skip_bad, report=report)


def api_spec(spec: Any) -> Spec:
    """One NESTFUL API spec -> (OpenAI function schema, output parameters)."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec must be an object, got {type(spec).__name__}")
    name = spec["name"]
    params: dict[str, Any] = {}
    schema_like = None
    for key in _PARAM_KEYS:
        value = spec.get(key)
        if isinstance(value, dict) and value.get("type") == "object" and "properties" in value:
            schema_like = value  # v2 specs may already be JSON schema
        elif isinstance(value, dict):
            params.update(value)
        elif value not in (None, []):
            raise ValueError(f"API {name!r}: {key} must be an object")
    parameters = object_schema(schema_like) if schema_like else object_schema(params)
    tool = normalize_tool({"name": name, "description": spec.get("description", ""),
                           "parameters": parameters}, where=f"API {name!r}")
    outputs = spec.get("output_parameters", spec.get("output_parameter")) or {}
    return tool, outputs


def _spec_toolspec(rec: Any) -> ToolSpec:
    tool, outputs = api_spec(rec)
    return ToolSpec(source=SOURCE, tool=tool, meta={"outputs": outputs})


@cache
def _specs(path: str, mtime_ns: int) -> dict[str, Spec]:
    """API name -> spec, first one winning (v1 glaive lists a few identical specs twice)."""
    out: dict[str, Spec] = {}
    for line, _, rec in iter_json_records(path):
        try:
            tool, outputs = api_spec(rec)
        except (KeyError, ValueError) as e:
            raise DataError(path, line, f"bad API spec: {e}") from None
        out.setdefault(tool["name"], (tool, outputs))
    return out


def _item(path: Path, rec: Any, index: int, file_specs: dict[str, Spec] | None) -> CallItem:
    if not isinstance(rec, dict):
        raise ValueError(f"record must be an object, got {type(rec).__name__}")
    query, sequence = rec["input"], rec["output"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("'input' must be a non-empty string")
    if not isinstance(sequence, list):
        raise ValueError("'output' must be a list of calls")
    if "tools" in rec:
        if not isinstance(rec["tools"], list):
            raise ValueError("'tools' must be a list")
        specs: dict[str, Spec] = {}
        for k, spec in enumerate(rec["tools"]):
            try:
                tool, outputs = api_spec(spec)
            except KeyError as e:
                raise ValueError(f"tools[{k}]: missing field {e.args[0]!r}") from None
            specs.setdefault(tool["name"], (tool, outputs))
    elif file_specs is not None:
        specs = file_specs
    else:
        raise ValueError("the record has no 'tools' and there is no *-spec.json beside the file")
    calls: list[ToolCall] = []
    labels: list[str | None] = []
    meta: dict[str, Any] = {"split": "test", "file": path.name}
    for k, entry in enumerate(sequence):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"output[{k}] must be an object with a string 'name'")
        args = entry.get("arguments") or {}
        if not isinstance(args, dict):
            raise ValueError(f"output[{k}].arguments must be an object")
        if entry["name"] == RESULT:
            meta["result"] = args
            continue
        if entry["name"] not in specs:
            raise ValueError(f"output[{k}] calls unknown API {entry['name']!r} (not in the specs)")
        calls.append(ToolCall(entry["name"], args))
        label = entry.get("label")
        labels.append(str(label).strip("$") if label is not None else None)
    if not calls:
        raise ValueError("'output' holds no call")
    names = list(dict.fromkeys(c.name for c in calls))
    offered = list(specs) if "tools" in rec else names
    meta.update(labels=labels, references=_references(calls, labels),
                outputs={n: specs[n][1] for n in names})
    if "gold_answer" in rec:
        meta["gold_answer"] = rec["gold_answer"]
    item_id = f"{SOURCE}-{rec['sample_id']}" if "sample_id" in rec else f"{SOURCE}-{path.stem}-{index}"
    return CallItem(id=item_id, source=SOURCE, instruction=query.strip(),
                    tools=[specs[n][0] for n in offered], calls=calls, meta=meta)


def _references(calls: list[ToolCall], labels: list[str | None]) -> list[dict[str, Any]]:
    where = {label: i for i, label in enumerate(labels) if label}
    refs = []
    for i, call in enumerate(calls):
        for arg, value in call.arguments.items():
            for m in _REF.finditer(str(value)):
                refs.append({"call": i, "argument": arg, "value": value, "label": m.group(1),
                             "from_call": where.get(m.group(1)), "field": m.group(2).lstrip(".") or None})
    return refs
