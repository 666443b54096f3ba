"""ToolAlpaca (`ToolAlpaca/data/`) -> `CallItem`s (eval sets) and `ToolSpec`s (public APIs).

* `eval_simulated.json`, `eval_real.json`: a JSON array of APIs, each with its OpenAPI document
  (`Documentation`, a JSON string), `Function_Projection` (function name -> [path, method]),
  `Instructions` and, per instruction, `Golden_Answers`: a list of `{Action, Action_Input}`.
  Each instruction becomes a `CallItem` whose tools are the API's operations (see `openapi`)
  plus ToolAlpaca's built-in helpers: `getDetails` (ask the user for missing details, which the
  golden answers use) and the `external_tools` the API lists (`retrieval`, `datetime`).
* `public_apis.json`: `{count, entries: [{API, Description, Auth, HTTPS, Cors, Link, Category}]}`,
  the seed list the APIs were generated from -> one `ToolSpec` each (no parameters are known;
  the tool name is the API name made identifier-safe, the original kept in `meta["api"]`).

Golden answers are references for a judge rather than exact calls, and are kept as written:
* a value the author left open (`${animeId from searchAnime}`, `"{start date}"`) stays a string
  and is listed in `meta["placeholders"]` (where the `${...}` was not quoted, it is quoted so the
  input reads as JSON);
* `[Optional]name` marks an optional call: the call is `name`, its index is in `meta["optional"]`;
* one known slip, a key written twice (`"symbols": "symbols": [...]`), is read once and listed in
  `meta["repaired"]`.
An answer that still does not read, or names a function the API does not have, is a bad record
(for that one instruction).  Eval items carry `meta["split"] = "test"`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.jsonfiles import convert_each, read_json
from multiagentllm.data.loaders.openapi import operations
from multiagentllm.io import DataError, SkipReport, skip_or_raise
from multiagentllm.types import ToolCall

SOURCE = "toolalpaca"
GET_DETAILS = {"name": "getDetails", "description": (
    "Ask the user for details the request lacks (missing essential information, vague terms or "
    "pronouns); not for optional parameters."), "parameters": {
    "type": "object", "required": ["Question"],
    "properties": {"Question": {"type": "string", "description": "The question to ask the user."}}}}
EXTERNAL_TOOLS = {
    "retrieval": {"name": "retrievalDataFromFile", "description": (
        "Retrieve specified information from a file that holds a tool output too long to show."),
        "parameters": {"type": "object", "required": ["file_path", "query"], "properties": {
            "file_path": {"type": "string", "description": "Path of the file with the output."},
            "query": {"type": "string", "description": "The information to retrieve."}}}},
    "datetime": {"name": "getCurrentDateTime", "description": "Retrieve the current date and time.",
                 "parameters": {"type": "object", "required": [], "properties": {}}},
}
_OPTIONAL = re.compile(r"^\s*\[Optional\]\s*", re.I)
_BARE_PLACEHOLDER = re.compile(r'(?<!")\$\{([^{}",]*)\}?"?')
_DOUBLED_KEY = re.compile(r'"(\w+)"\s*:\s*"\1"\s*:')
_PLACEHOLDER_VALUE = re.compile(r"^\$?\{[^{}]*\}$")


def load_toolalpaca(path: str | os.PathLike, *, skip_bad: bool = False,
                    report: SkipReport | None = None) -> Iterator[CallItem | ToolSpec]:
    """Read an eval set (or, given `public_apis.json`, the public API list)."""
    path = Path(path)
    head = path.read_text(encoding="utf-8", errors="replace")[:4096].lstrip() if path.is_file() else ""
    if head.startswith("{"):
        yield from load_public_apis(path, skip_bad=skip_bad, report=report)
        return
    yield from convert_each(path, lambda rec, i: _api_items(path, rec, i),
                            skip_bad=skip_bad, report=report)


def load_public_apis(path: str | os.PathLike, *, skip_bad: bool = False,
                     report: SkipReport | None = None) -> Iterator[ToolSpec]:
    """`public_apis.json` -> `ToolSpec`s (name, description; category, auth, link in meta)."""
    doc = read_json(path)
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise DataError(path, None, "expected an object with an 'entries' list")
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict) or not str(entry.get("API") or "").strip():
                raise DataError(path, f"entries[{i}]", "entry must be an object with a non-empty 'API'")
            name = _identifier(entry["API"])
            if name in seen:
                name = f"{name}_{i}"
            seen.add(name)
            tool = {"name": name, "description": str(entry.get("Description") or ""),
                    "parameters": {"type": "object", "properties": {}, "required": []}}
            meta = {"api": entry["API"], "category": entry.get("Category", ""),
                    "auth": entry.get("Auth", ""), "https": entry.get("HTTPS"),
                    "cors": entry.get("Cors", ""), "link": entry.get("Link", "")}
        except DataError as err:
            skip_or_raise(err, skip_bad, report)
            continue
        yield ToolSpec(source=SOURCE, tool=tool, meta=meta)


def _identifier(name: str) -> str:
    ident = re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_")
    return ident if ident and not ident[0].isdigit() else f"api_{ident}"


def _api_items(path: Path, api: Any, index: int) -> list[CallItem | ValueError]:
    if not isinstance(api, dict):
        raise ValueError(f"record must be an object, got {type(api).__name__}")
    name = api["Name"]
    doc = api["Documentation"]
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            raise ValueError(f"API {name!r}: 'Documentation' is not JSON ({e.msg})") from None
    ops = operations(doc)
    tools = {op.name: op.tool for op in ops}
    for extra in [GET_DETAILS] + [EXTERNAL_TOOLS[t] for t in api.get("external_tools") or []
                                  if t in EXTERNAL_TOOLS]:
        tools.setdefault(extra["name"], extra)
    instructions, answers = api["Instructions"], api["Golden_Answers"]
    if not isinstance(instructions, list) or not isinstance(answers, list):
        raise ValueError(f"API {name!r}: 'Instructions' and 'Golden_Answers' must be lists")
    if len(instructions) != len(answers):
        raise ValueError(f"API {name!r}: {len(instructions)} instructions but {len(answers)} golden answers")
    base_meta = {"api": name, "category": api.get("Category", ""), "file": path.name,
                 "split": "test",
                 "functions": {op.name: [op.path, op.method] for op in ops}}
    if api.get("Authentication"):
        base_meta["authentication"] = api["Authentication"]
    out: list[CallItem | ValueError] = []
    for j, (instruction, answer) in enumerate(zip(instructions, answers)):
        try:
            calls, notes = _golden(answer, tools)
            if not isinstance(instruction, str) or not instruction.strip():
                raise ValueError("instruction must be a non-empty string")
        except KeyError as e:
            out.append(ValueError(f"API {name!r}, instruction {j}: missing field {e.args[0]!r}"))
            continue
        except (ValueError, TypeError) as e:
            out.append(ValueError(f"API {name!r}, instruction {j}: {e}"))
            continue
        out.append(CallItem(id=f"{SOURCE}-{path.stem}-{index}-{j}", source=SOURCE,
                            instruction=instruction.strip(), tools=list(tools.values()), calls=calls,
                            meta={**base_meta, "instruction_index": j, **notes}))
    return out


def _golden(answer: Any, tools: dict[str, Any]) -> tuple[list[ToolCall], dict[str, Any]]:
    if not isinstance(answer, list):
        raise ValueError(f"golden answer must be a list of actions, got {type(answer).__name__}")
    calls: list[ToolCall] = []
    notes: dict[str, list[Any]] = {"placeholders": [], "optional": [], "repaired": []}
    for k, action in enumerate(answer):
        if not isinstance(action, dict) or not isinstance(action.get("Action"), str):
            raise ValueError(f"action {k} must be an object with a string 'Action'")
        name = action["Action"]
        if _OPTIONAL.match(name):
            name = _OPTIONAL.sub("", name)
            notes["optional"].append(k)
        if name not in tools:
            raise ValueError(f"action {k} calls unknown function {name!r}")
        args, repaired = _action_input(action.get("Action_Input", "{}"), k)
        if repaired:
            notes["repaired"].append(k)
        for key, value in args.items():
            if isinstance(value, str) and _PLACEHOLDER_VALUE.match(value.strip()):
                notes["placeholders"].append({"call": k, "argument": key, "value": value})
        calls.append(ToolCall(name, args))
    return calls, {k: v for k, v in notes.items() if v}


def _action_input(raw: Any, k: int) -> tuple[dict[str, Any], bool]:
    """(arguments, whether the doubled-key slip was repaired)."""
    if isinstance(raw, dict):
        return raw, False
    if not isinstance(raw, str):
        raise ValueError(f"action {k}: Action_Input must be a JSON string")
    text = _BARE_PLACEHOLDER.sub(lambda m: json.dumps("${" + m.group(1).strip() + "}"), raw.strip() or "{}")
    for candidate, repaired in ((text, False), (_DOUBLED_KEY.sub(r'"\1":', text), True)):
        try:
            args = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(args, dict):
            raise ValueError(f"action {k}: Action_Input must be a JSON object")
        return args, repaired
    raise ValueError(f"action {k}: Action_Input does not read as JSON: {raw[:80]!r}")
