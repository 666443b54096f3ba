"""Gorilla APIBench (`data/apibench/*_{train,eval}.json`) -> `CallItem`s, with the API database.

Each row holds the question (inside the `code` text, as `###Instruction: ...`), the reference
`api_call` as Python source (`torch.hub.load(repo_or_dir='...', model='...')`) and `api_data`,
the API's documentation entry.  The API database of the hub (`data/api/<hub>*_api.jsonl`) sits
beside the split (`multiagentllm.tools.gorilla.load_api_database` reads it); the evaluator matches
answers against it.  Calls are read by the tolerant scanner of `multiagentllm.tools.call_syntax`,
which the hub tools and the evaluator use too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem
from multiagentllm.io import DataError, SkipReport, json_lines, skip_or_raise
from multiagentllm.tools.call_syntax import CallExpr, call_to_toolcall, json_type, reference_calls
from multiagentllm.tools.gorilla import load_api_database

SOURCE = "apibench"
HUBS = ("torchhub", "huggingface", "tensorflowhub")
# File-name prefix of a split -> hub name (the tensorflow split is named without "hub").
_HUB_PREFIXES = {"torchhub": "torchhub", "huggingface": "huggingface", "tensorflow": "tensorflowhub"}
_INSTRUCTION = re.compile(r"#+\s*Instruction\s*:\s*(.*?)(?:\n\s*#+\s*Output\b|\Z)", re.S)
_DICT_INSTRUCTION = re.compile(r"'Instruction'\s*:\s*(.*?),\s*'Output'\s*:", re.S)


def hub_of(path: str | os.PathLike, provider: str = "") -> str:
    stem = Path(path).name.lower()
    for prefix, hub in _HUB_PREFIXES.items():
        if stem.startswith(prefix):
            return hub
    provider = provider.lower()
    if "tensorflow" in provider:
        return "tensorflowhub"
    return "torchhub" if provider.startswith("pytorch") and "transformers" not in provider else "huggingface"


def api_database_path(split: str | os.PathLike) -> Path | None:
    """The hub's API database beside a split: `../api/<hub prefix>*_api.jsonl`, or None."""
    split = Path(split)
    prefix = next((p for p in _HUB_PREFIXES if split.name.lower().startswith(p)), None)
    if prefix is None:
        return None
    found = sorted((split.parent.parent / "api").glob(f"{prefix}*_api.jsonl"))
    return found[0] if found else None


def instruction_of(code: str) -> str:
    for pattern in (_INSTRUCTION, _DICT_INSTRUCTION):
        m = pattern.search(code)
        if m and m.group(1).strip():
            return m.group(1).strip()
    raise ValueError("the 'code' text has no '###Instruction:' part")


def api_tool(call: CallExpr, api_data: dict[str, Any]) -> dict[str, Any]:
    """The API as an OpenAI function schema: its call's arguments become parameters."""
    gold = call_to_toolcall(call)
    props = {key: {"type": json_type(value)} for key, value in gold.arguments.items()}
    description = str(api_data.get("description") or api_data.get("functionality") or "")
    return {"name": call.name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)}}


def _item(row: Any, line: int, path: Path, hub: str, known: set[str] | None) -> CallItem:
    if not isinstance(row, dict):
        raise ValueError("an APIBench row must be a JSON object")
    for key in ("code", "api_call", "api_data"):
        if key not in row:
            raise ValueError(f"missing field {key!r}")
    api_call, api_data = row["api_call"], row["api_data"]
    if not isinstance(api_call, str) or not isinstance(api_data, dict):
        raise ValueError("'api_call' must be a string and 'api_data' an object")
    calls = reference_calls(api_call)
    if not calls:
        raise ValueError(f"'api_call' holds no call: {api_call[:80]!r}")
    meta = {"hub": hub, "api_call": api_call, "api_data": api_data, "provider": row.get("provider", ""),
            "domain": api_data.get("domain"), "line": line}
    if known is not None:
        meta["in_database"] = api_call.strip() in known
    return CallItem(id=f"{path.stem}-{line}", source=SOURCE, instruction=instruction_of(row["code"]),
                    tools=[api_tool(calls[0], api_data)], calls=[call_to_toolcall(calls[0])], meta=meta)


def load_apibench(path: str | os.PathLike, *, skip_bad: bool = False,
                  report: SkipReport | None = None) -> Iterator[CallItem]:
    """Read an APIBench split (train or eval); bad rows raise `DataError(path, line, reason)`
    or are counted in `report` with `skip_bad`.  Item ids are `<file stem>-<line>`, so the
    evaluator can find the question's line (Gorilla numbers questions by line too)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "file not found")
    database = api_database_path(path)
    known = {e["api_call"].strip() for e in load_api_database(database)} if database else None
    hub = hub_of(path)
    for n, row in json_lines(path):
        try:
            if isinstance(row, DataError):
                raise row
            yield _item(row, n, path, hub, known)
        except DataError as err:
            skip_or_raise(err, skip_bad, report)
        except (ValueError, KeyError, TypeError) as e:
            skip_or_raise(DataError(path, n, str(e)), skip_bad, report)
