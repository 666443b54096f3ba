"""CallNavi (`Dataset/Questions/<domain>.json` with `Dataset/APISchema/<domain>.json`): 729 questions
over 10 domains, each with the gold API sequence and its parameters, against 587 API schemas.

A question file is read with the schema file of its domain (the sibling `APISchema` folder, same
file name): every question becomes a `CallItem` whose tools are *all* the domain's APIs (CallNavi's
point: pick the right one or several among many) and whose calls are the gold sequence. A schema
file read on its own yields the domain's APIs as `ToolSpec`s for the catalogue.

`"$$$"` in the gold parameters marks a value the question does not fix (a date to choose, an id
that an earlier call returns): it is left out of the call's arguments and listed in
`meta["open_arguments"]` as `[call index, parameter]`, so a scorer can accept any value there and a
synthesizer knows what to fill from an observation. CallNavi's schemas carry a JSON-schema
`$schema` key and a `returnParameter` map; the first is dropped, the second kept in the catalogue
entry's `meta["returns"]`.

A question naming an API its domain does not define, a parameter list that does not match the
API list, or a question that is not one user message is a `DataError` naming file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.jsonfiles import convert_each, read_json
from multiagentllm.io import DataError, SkipReport, skip_or_raise
from multiagentllm.types import SchemaError, ToolCall, normalize_tool

SOURCE = "callnavi"
OPEN = "$$$"


def schema_tool(rec: Any, at: str) -> dict[str, Any]:
    """One CallNavi API schema as an OpenAI function schema."""
    if not isinstance(rec, dict):
        raise ValueError(f"{at} must be an object")
    params = dict(rec.get("parameters") or {"type": "object", "properties": {}})
    params.pop("$schema", None)
    try:
        return normalize_tool({**rec, "parameters": params}, where=at)
    except SchemaError as e:
        raise ValueError(str(e)) from None


def domain_tools(schema_path: Path) -> list[tuple[dict[str, Any], Any]]:
    """(schema, returnParameter) of each API of one domain, in file order; a bad schema raises
    `DataError` naming it."""
    data = read_json(schema_path)
    if not isinstance(data, list):
        raise DataError(schema_path, None, "an API schema file holds a list of APIs")
    tools = []
    for k, rec in enumerate(data):
        try:
            tools.append((schema_tool(rec, f"API {k}"), rec.get("returnParameter")))
        except ValueError as e:
            raise DataError(schema_path, None, str(e)) from None
    return tools


def question_item(rec: Any, index: int, domain: str, tools: dict[str, dict[str, Any]]) -> CallItem:
    if not isinstance(rec, dict):
        raise ValueError("a question must be an object")
    messages = rec["question"]
    if not (isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict)
            and messages[0].get("role") == "user" and isinstance(messages[0].get("content"), str)):
        raise ValueError("'question' must be one user message")
    gold = rec["ground_truth"]
    apis, params = gold["API"], gold["parameters"]
    if params == [] and isinstance(apis, list) and all(not tools.get(a, {}).get("parameters", {}).get("properties")
                                                       for a in apis):
        params = [{} for _ in apis]  # CallNavi writes [] for calls of APIs that take no parameters
    if not isinstance(apis, list) or not apis or not isinstance(params, list) or len(apis) != len(params):
        raise ValueError(f"ground_truth has {len(apis) if isinstance(apis, list) else apis!r} APIs and "
                         f"{len(params) if isinstance(params, list) else params!r} parameter sets")
    calls, open_args = [], []
    for k, (api, args) in enumerate(zip(apis, params)):
        if api not in tools:
            raise ValueError(f"ground_truth.API[{k}] {api!r} is not an API of domain {domain!r}")
        if not isinstance(args, dict):
            raise ValueError(f"ground_truth.parameters[{k}] must be an object")
        open_args += [[k, name] for name, value in args.items() if value == OPEN]
        calls.append(ToolCall(api, {name: value for name, value in args.items() if value != OPEN}))
    return CallItem(id=f"{SOURCE}-{rec.get('id', f'{domain}-{index}')}", source=SOURCE,
                    instruction=messages[0]["content"].strip(), tools=list(tools.values()), calls=calls,
                    meta={"domain": domain, "difficulty": rec.get("difficulty"), "open_arguments": open_args})


def load_callnavi(path: str | os.PathLike, *, skip_bad: bool = False,
                  report: SkipReport | None = None) -> Iterator[CallItem | ToolSpec]:
    """A question file's items (with its domain's schemas), or a schema file's catalogue."""
    path = Path(path)
    domain = path.stem
    if path.parent.name == "APISchema":
        try:
            tools = domain_tools(path)
        except DataError as err:
            skip_or_raise(err, skip_bad, report)
            return
        yield from (ToolSpec(source=SOURCE, tool=t, meta={"domain": domain, "returns": returns})
                    for t, returns in tools)
        return
    schema_path = path.parent.parent / "APISchema" / path.name
    try:
        if not schema_path.is_file():
            raise DataError(path, None, f"no API schema file for domain {domain!r} (expected {schema_path})")
        by_name = {t["name"]: t for t, _ in domain_tools(schema_path)}
    except DataError as err:
        skip_or_raise(err, skip_bad, report)
        return
    yield from convert_each(path, lambda rec, i: [question_item(rec, i, domain, by_name)],
                            skip_bad=skip_bad, report=report)
