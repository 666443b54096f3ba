"""Berkeley Function Calling Leaderboard (BFCL) single-turn question files -> `CallItem`s.

A question file is JSONL: ``{"id", "question": [[{"role", "content"}...]], "function": [...]}``.
Its reference answers live in ``possible_answer/<same file name>`` beside it (irrelevance files
have none: the right answer is to call nothing).  Each answer lists, per expected call, every
acceptable value of every parameter; ``""`` among them means the parameter may be left out.

BFCL writes parameter types in its own dialect ("dict", "float", "tuple", "any"); the offered
tools are converted to the OpenAI function schema the rest of the project speaks, and the
original functions are kept in ``meta["bfcl_functions"]`` because the AST checker judges types
against them.  The gold call takes the first acceptable value of each parameter (leaving out a
parameter whose first value is ``""``); the full ``possible_answer`` is kept in
``meta["possible_answer"]``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem
from multiagentllm.io import DataError, SkipReport, iter_jsonl, read_records
from multiagentllm.types import SchemaError, ToolCall, normalize_tool

SOURCE = "bfcl"
# BFCL type name -> JSON-schema type (None: any JSON value, so no "type" is written).
TYPE_MAP: dict[str, str | None] = {
    "dict": "object", "object": "object", "float": "number", "number": "number",
    "integer": "integer", "int": "integer", "string": "string", "str": "string",
    "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array",
    "tuple": "array", "any": None, "": None,
    # Java / JavaScript categories (their values are source literals; the checker is Python-only)
    "String": "string", "char": "string", "Boolean": "boolean", "long": "integer",
    "double": "number", "Array": "array", "ArrayList": "array", "HashMap": "object",
}


_ITEM_NUMBER = re.compile(r"\d+(-\d+)*")  # "12"; the live files number their items "12-3-0"


def category_of(item_id: str) -> str:
    """`simple_python_12` -> `simple_python`; `parallel_multiple_3` -> `parallel_multiple`;
    `live_simple_12-3-0` -> `live_simple`."""
    head, _, tail = item_id.rpartition("_")
    return head if head and _ITEM_NUMBER.fullmatch(tail) else item_id


def answers_path(questions: str | os.PathLike) -> Path:
    """Where BFCL keeps the reference answers of a question file."""
    questions = Path(questions)
    return questions.parent / "possible_answer" / questions.name


def convert_schema(schema: Any, *, where: str) -> dict[str, Any]:
    """Translate one BFCL parameter schema (recursively) to JSON schema."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be an object, got {type(schema).__name__}")
    out = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("type", "properties", "items")}
    if "type" in schema:
        raw = str(schema["type"])
        if raw not in TYPE_MAP:
            raise ValueError(f"{where}: unknown BFCL type {raw!r}")
        if TYPE_MAP[raw] is not None:
            out["type"] = TYPE_MAP[raw]
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: convert_schema(sub, where=f"{where}.{name}")
                             for name, sub in schema["properties"].items()}
    if "items" in schema:
        out["items"] = convert_schema(schema["items"], where=f"{where}[]")
    return out


def convert_function(function: Any, *, where: str = "function") -> dict[str, Any]:
    """A BFCL function description -> an OpenAI function schema (via `normalize_tool`)."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ValueError(f"{where} must be an object with a string 'name'")
    params = function.get("parameters") or {"type": "dict", "properties": {}}
    converted = convert_schema(params, where=f"{where}.parameters")
    converted["type"] = "object"
    try:
        return normalize_tool({"name": function["name"], "description": function.get("description", ""),
                               "parameters": converted}, where=where)
    except SchemaError as e:
        raise ValueError(str(e)) from None


def _first(alternatives: list) -> Any:
    """The first acceptable value; a dict (or a list of dicts) lists alternatives per key, so
    it is resolved one level down as BFCL's checker reads it."""
    value = alternatives[0]
    if isinstance(value, dict):
        return {k: vs[0] for k, vs in value.items() if isinstance(vs, list) and vs and vs[0] != ""}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_first([v]) for v in value]
    return value


def gold_calls(ground_truth: list[dict[str, Any]],
               functions: list[dict[str, Any]] | None = None) -> list[ToolCall]:
    """The first acceptable value of every parameter.  A first value of "" means "leave it out"
    (unless the function requires the parameter: then the first real value), and so does a
    parameter the function does not document when leaving it out is allowed."""
    documented = {f.get("name"): set((f.get("parameters") or {}).get("properties") or {})
                  for f in functions or [] if isinstance(f, dict)}
    required = {f.get("name"): set((f.get("parameters") or {}).get("required") or [])
                for f in functions or [] if isinstance(f, dict)}
    calls = []
    for entry in ground_truth:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError("each ground_truth entry must be an object with exactly one function name")
        (name, params), = entry.items()
        if not isinstance(params, dict):
            raise ValueError(f"ground_truth parameters of {name!r} must be an object")
        args = {}
        for param, values in params.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"ground_truth {name}.{param} must be a non-empty list of values")
            present = [v for v in values if v != ""]
            if param in required.get(name, ()) and present:
                args[param] = _first(present)  # a few answers list "" first for a required parameter
            elif values[0] != "" and not (name in documented and param not in documented[name] and "" in values):
                args[param] = _first(values)
        calls.append(ToolCall(name, args))
    return calls


def read_answers(path: str | os.PathLike) -> dict[str, tuple[int, list]]:
    """id -> (line, ground_truth list) of a possible_answer file."""
    answers: dict[str, tuple[int, list]] = {}
    for line, row in iter_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("ground_truth"), list) or "id" not in row:
            raise DataError(path, line, "an answer row needs 'id' and a 'ground_truth' list")
        answers[str(row["id"])] = (line, row["ground_truth"])
    return answers


def _instruction(question: Any) -> str:
    if not isinstance(question, list) or not question:
        raise ValueError("'question' must be a non-empty list of turns")
    if len(question) != 1:
        raise ValueError(f"multi-turn item ({len(question)} turns); only single-turn categories are supported")
    turn = question[0]
    if isinstance(turn, dict):  # some older files hold the turn's messages without the outer list
        turn = [turn]
    texts = [m.get("content", "") for m in turn if isinstance(m, dict) and m.get("role") == "user"]
    if not texts or not all(isinstance(t, str) for t in texts) or not "".join(texts).strip():
        raise ValueError("the turn has no user message with text content")
    return "\n".join(t.strip() for t in texts)


def _item(row: Any, answers: dict[str, tuple[int, list]] | None, path: Path) -> CallItem:
    if not isinstance(row, dict):
        raise ValueError("a question row must be a JSON object")
    if "id" not in row or "question" not in row or "function" not in row:
        raise ValueError("a question row needs 'id', 'question' and 'function'")
    item_id = str(row["id"])
    functions = row["function"]
    if isinstance(functions, dict):
        functions = [functions]
    if not isinstance(functions, list) or not functions:
        raise ValueError("'function' must be a non-empty list of function descriptions")
    tools = [convert_function(f, where=f"function[{i}]") for i, f in enumerate(functions)]
    category = category_of(item_id)
    meta: dict[str, Any] = {"category": category, "bfcl_functions": functions, "file": path.name}
    calls: list[ToolCall] = []
    if answers is not None and "irrelevance" not in category:
        if item_id not in answers:
            raise ValueError(f"no possible answer for id {item_id!r} in {answers_path(path)}")
        line, ground_truth = answers[item_id]
        meta["possible_answer"] = ground_truth
        meta["answer_line"] = line
        calls = gold_calls(ground_truth, functions)
    return CallItem(id=item_id, source=SOURCE, instruction=_instruction(row["question"]),
                    tools=tools, calls=calls, meta=meta)


def load_bfcl(path: str | os.PathLike, *, answers: str | os.PathLike | None = None,
              skip_bad: bool = False, report: SkipReport | None = None) -> Iterator[CallItem]:
    """Read a BFCL question file; `answers` defaults to `possible_answer/<name>` when present.

    A malformed row raises `DataError(path, line, reason)` or, with `skip_bad`, is counted in
    `report` and skipped.  A malformed answer file always raises: every item would be wrong."""
    path = Path(path)
    answer_file = Path(answers) if answers is not None else answers_path(path)
    table = read_answers(answer_file) if answer_file.exists() else None
    if answers is not None and table is None:
        raise DataError(answer_file, None, "file not found")
    yield from read_records(path, lambda row: _item(row, table, path), skip_bad=skip_bad, report=report)
