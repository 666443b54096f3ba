"""API-Bank (`API-Bank/api-bank/`) -> `CallItem`s and `Trajectory`s.

Three record shapes, all JSON arrays:

* prompt rows `{instruction, input, expected_output | output}` (test-data level-1/2, the level-3
  `batch-inf` files, training-data `lv3-*`).  `input` is a dialogue: `User:` / `AI:` lines and
  `API-Request: [Name(k=v)]->result` lines, ending with `Generate API Request:` or `Generate AI
  Response:`.  Tool descriptions are JSON lines after `API descriptions:` in `instruction`
  (level-1/2) or `{"apiCode": ...}` lines at the top of `input` (level-3, training); tools that
  `ToolSearcher` returned inside the dialogue are offered too, since the model saw them there.
  - `Generate API Request` rows become a `CallItem`: gold = the expected request (one or more
    calls).
  - `Generate AI Response` rows hold the API results and the reply, so they become a
    `Trajectory`.
  In both, the API requests after the last `User:`/`AI:` line are the episode's steps so far
  (`meta["history"]` for a CallItem, the caller steps of a Trajectory); the dialogue before them
  is the instruction, prefixed with the row's date context ("The current year is 2023.").
* level-3 episodes `{requirement, apis: [{api_name, input, output}], response}` (`level-3.json`)
  -> a `Trajectory` of the calls and the final response.

API-Bank has no reasoning text, so each rationale is derived from the call it leads to (the tool
name and the first sentence of its description), and `meta["rationale"]` says so.  Rows from
`test-data` carry `meta["split"] = "test"`.  The call syntax is parsed by `apibank_syntax`.

Some level-2 dialogues call an API whose description the prompt never shows (the search result
is only mentioned in an AI turn).  Such a tool is taken from the API catalogue `data/all_apis.csv`
beside the data folders when it is there (`meta["tools_from_catalogue"]` names them); a call to a
tool found nowhere is a bad record.  `load_apibank_catalogue` reads that CSV as `ToolSpec`s.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.apibank_syntax import (
    parse_api_request,
    python_literal,
    split_request_line,
)
from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.data.loaders.paramschema import object_schema
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory, normalize_tool

SOURCE = "apibank"
RATIONALE_NOTE = "derived from the called tool (API-Bank has no reasoning text)"
# API-Bank's tool-search API, as every level-3 prompt describes it.
TOOL_SEARCHER = {
    "name": "ToolSearcher",
    "description": "Searches for relevant tools in library based on the keywords.",
    "parameters": {"type": "object", "required": ["keywords"], "properties": {
        "keywords": {"type": "string", "description": "The keyword to search for."}}},
}
_CONTEXT = re.compile(r"The current (?:year|time) is ([^\n{}]+?)\.?\s*\n")
_MARKER = re.compile(r"^Generate (API Request|AI Response):?\s*$")


def load_apibank(path: str | os.PathLike, *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[CallItem | Trajectory]:
    """Read one API-Bank JSON file (any of the shapes above)."""
    path = Path(path)
    is_test = path.parent.name == "test-data" or path.name.startswith("level-")
    catalogue = _catalogue(str(path.resolve().parent.parent / "data" / "all_apis.csv"))

    def convert(rec: Any, index: int) -> list[CallItem | Trajectory]:
        if not isinstance(rec, dict):
            raise ValueError(f"record must be an object, got {type(rec).__name__}")
        meta: dict[str, Any] = {"file": path.name, "index": index}
        if is_test:
            meta["split"] = "test"
        for key in ("file", "id", "sample_id", "api_id"):
            if key in rec:
                meta["dialogue_file" if key == "file" else key] = rec[key]
        item_id = f"{SOURCE}-{path.stem}-{index}"
        if "requirement" in rec:
            return [_episode(rec, item_id, meta)]
        return [_prompt_row(rec, item_id, meta, catalogue)]

    return convert_each(path, convert, skip_bad=skip_bad, report=report)


def load_apibank_catalogue(path: str | os.PathLike) -> Iterator[ToolSpec]:
    """`data/all_apis.csv` -> one `ToolSpec` per API whose `api_info` column reads."""
    for name, (tool, meta) in _read_catalogue(Path(path)).items():
        yield ToolSpec(source=SOURCE, tool=tool, meta=meta)


def api_tool(desc: dict[str, Any]) -> dict[str, Any]:
    """An API-Bank API description (`name`/`apiCode`, `input_parameters`/`parameters`) ->
    OpenAI function schema.  API-Bank marks no parameter optional, so all are required."""
    name = desc.get("name", desc.get("apiCode"))
    params = desc.get("input_parameters", desc.get("parameters")) or {}
    if isinstance(params, list) and all(str(p).strip().lower() in ("none", "") for p in params):
        params = {}  # `{'none'}`: the generator's way of writing "no parameters"
    if not isinstance(params, dict):
        raise ValueError(f"API {name!r}: input parameters must be an object")
    return normalize_tool({"name": name, "description": desc.get("description", ""),
                           "parameters": object_schema(params, required=list(params))},
                          where=f"API {name!r}")


def _prompt_row(rec: dict[str, Any], item_id: str, meta: dict[str, Any],
                catalogue: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> CallItem | Trajectory:
    dialogue_in = rec["input"]
    target = rec["expected_output"] if "expected_output" in rec else rec["output"]
    if not isinstance(dialogue_in, str) or not isinstance(target, str):
        raise ValueError("'input' and the expected output must be strings")
    instruction_text = str(rec.get("instruction", ""))
    tools = _Tools()
    if "API descriptions:" in instruction_text:
        for line in instruction_text.split("API descriptions:", 1)[1].splitlines():
            if line.strip():
                tools.add(api_tool(_json_line(line, "API description")))
    lines = []
    for line in dialogue_in.splitlines():
        if line.startswith('{"apiCode"'):
            tools.add(api_tool(_json_line(line, "API description")))
        elif line.strip() and not _MARKER.match(line.strip()):
            lines.append(line)
    turns, history = _split_dialogue(lines, tools)
    if not turns:
        raise ValueError("the dialogue has no User/AI turn")
    context = _CONTEXT.search(instruction_text + "\n")
    instruction = (f"The current {'year' if context.group(1).strip().isdigit() else 'time'} is "
                   f"{context.group(1).strip()}.\n" if context else "") + "\n".join(turns)
    responding = "Generate AI Response" in dialogue_in or not target.lstrip().startswith("API-Request")
    calls = [] if responding else parse_api_request(target)
    borrowed = [n for n in dict.fromkeys([s.action.name for s in history] + [c.name for c in calls])
                if n not in tools.by_name and n in catalogue]
    for name in borrowed:
        tools.add(catalogue[name][0])
    if borrowed:
        meta["tools_from_catalogue"] = borrowed
    if not responding:
        tools.check([c.name for c in calls] + [s.action.name for s in history])
        meta["history"] = [s.to_dict() for s in history]
        return CallItem(id=item_id, source=SOURCE, instruction=instruction, tools=tools.list,
                        calls=calls, meta=meta)
    answer = re.sub(r"^\s*AI:\s*", "", target).strip()
    return _trajectory(item_id, instruction, tools, history, answer, meta)


def _episode(rec: dict[str, Any], item_id: str, meta: dict[str, Any]) -> Trajectory:
    tools = _Tools()
    tools.add(TOOL_SEARCHER)
    steps = []
    for i, api in enumerate(rec["apis"]):
        if not isinstance(api, dict) or not isinstance(api.get("api_name"), str):
            raise ValueError(f"apis[{i}] must be an object with a string 'api_name'")
        args = api.get("input") or {}
        if not isinstance(args, dict):
            raise ValueError(f"apis[{i}].input must be an object")
        result = _unwrap(api.get("output"))
        if api["api_name"] == "ToolSearcher":
            tools.add_found(result)
        steps.append(Step("", "caller", ToolCall(api["api_name"], args), _observation(result)))
    return _trajectory(item_id, str(rec["requirement"]).strip(), tools, steps,
                       str(rec["response"]).strip(), meta)


def _trajectory(item_id: str, instruction: str, tools: "_Tools", steps: list[Step], answer: str,
                meta: dict[str, Any]) -> Trajectory:
    tools.check([s.action.name for s in steps])
    for step in steps:
        step.rationale = _rationale(step.action, tools.by_name[step.action.name])
    done = "The API results answer the request." if steps else "No API call is needed to reply."
    steps = steps + [Step(done, "summarizer")]
    meta["rationale"] = RATIONALE_NOTE
    traj = Trajectory(id=item_id, instruction=instruction, tools=tools.list, steps=steps,
                      answer=answer, outcome="solved", source=SOURCE, meta=meta)
    try:
        traj.validate()
    except SchemaError as e:
        raise ValueError(str(e)) from None
    return traj


def _split_dialogue(lines: list[str], tools: "_Tools") -> tuple[list[str], list[Step]]:
    """(dialogue lines up to the last User/AI turn, caller steps for the requests after it)."""
    last_turn = max((i for i, line in enumerate(lines) if not line.startswith("API-Request:")),
                    default=-1)
    steps: list[Step] = []
    for i, line in enumerate(lines):
        if not line.startswith("API-Request:"):
            continue
        calls, result_text = split_request_line(line)
        result = _result(result_text)
        if calls[0].name == "ToolSearcher":
            tools.add_found(result)
        if i > last_turn:
            if len(calls) != 1:
                raise ValueError(f"one API-Request line holds {len(calls)} calls but one result")
            steps.append(Step("", "caller", calls[0], _observation(result)))
    return lines[: last_turn + 1], steps


def _result(text: str) -> Any:
    try:
        return _unwrap(python_literal(text))
    except ValueError:
        return text


def _unwrap(result: Any) -> Any:
    """Level-3 results are `{api_name, input, output, exception}`; the observation is the output
    (or the exception, where the call failed)."""
    if isinstance(result, dict) and {"api_name", "input", "output"} <= set(result):
        if result.get("exception"):
            return {"exception": result["exception"]}
        return result["output"]
    return result


def _observation(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def _rationale(call: ToolCall, tool: dict[str, Any]) -> str:
    desc = tool.get("description", "").strip()
    first = re.split(r"(?<=\.)\s", desc, maxsplit=1)[0].rstrip(".") if desc else ""
    return f"Call {call.name}" + (f": {first[0].lower() + first[1:]}." if first else ".")


def _json_line(line: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} is not JSON ({e.msg}): {line[:60]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{what} must be a JSON object: {line[:60]!r}")
    return obj


class _Tools:
    """The tools offered to one item, in order of appearance, unique by name (first wins)."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}

    @property
    def list(self) -> list[dict[str, Any]]:
        return list(self.by_name.values())

    def add(self, tool: dict[str, Any]) -> None:
        self.by_name.setdefault(tool["name"], tool)

    def add_found(self, result: Any) -> None:
        """Tools described in a ToolSearcher result (one description or a list of them);
        a result that is not a readable description (e.g. truncated text) adds nothing."""
        for desc in result if isinstance(result, list) else [result]:
            if isinstance(desc, dict) and isinstance(desc.get("name"), str):
                self.add(api_tool(desc))

    def check(self, names: list[str]) -> None:
        unknown = sorted({n for n in names if n not in self.by_name})
        if unknown:
            raise ValueError(f"call to unknown tool(s) {unknown}; offered: {sorted(self.by_name)}")


@cache
def _catalogue(csv_path: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    path = Path(csv_path)
    return _read_catalogue(path) if path.is_file() else {}


def _read_catalogue(path: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """API name -> (tool schema, meta) from all_apis.csv; its `api_info` column is Python source
    (`description = ...`, `input_parameters = {...}`, `output_parameters = {...}`)."""
    if not path.is_file():
        raise DataError(path, None, "file not found")
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name = (row.get("类名") or "").strip()
            try:
                info = {t.id: python_literal(ast.unparse(node.value))
                        for node in ast.parse(row.get("api_info") or "").body
                        if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
                tool = api_tool({"name": name, **info})
            except (SyntaxError, ValueError, SchemaError):
                continue  # one row's api_info is not Python (ImageCaption: ".")
            out[name] = (tool, {"outputs": info.get("output_parameters", {}),
                                "category": row.get("应用场景", ""), "id": row.get("id", "")})
    return out
