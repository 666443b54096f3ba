"""StableToolBench / ToolBench query files: an instruction with its `api_list` of RapidAPI endpoints.

`solvable_queries/test_instruction/G*.json` (StableToolBench) and `data_example/instruction/
G*_query.json` (ToolBench) are JSON arrays of `{"query", "query_id", "api_list", "relevant APIs"}`.
They hold no reference calls and no observations, so a record becomes

* one `ToolSpec` per endpoint (each endpoint once per file) for the tool catalogue, with the
  endpoint's `template_response` kept in `meta` for the simulated tools, and
* one `CallItem` with the instruction, its tools and `calls=[]`: an evaluation or synthesis seed;
  `meta["relevant_apis"]` names the tools the query was written for.

Tool names and schemas follow ToolBench's convention (`multiagentllm.tools.rapidapi.api_to_tool`,
shared with the simulated tools that execute them); two endpoints whose cut names collide are told
apart here (`unique_name`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.io import SkipReport
from multiagentllm.tools.rapidapi import MAX_NAME, api_to_tool

# ToolBench's boilerplate around an endpoint's description in its function definitions.
_BOILERPLATE = re.compile(
    r'^This is the subfunction for tool "(?P<tool>[^"]*)", you can use this tool\.\s*'
    r'(The description of this function is: "(?P<desc>.*?)"?)?\s*$', re.S)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`... (still at most 64 characters) if it is taken.

    Cutting names to their last 64 characters can give two endpoints of one tool the same name
    (`Today Sure VIP BTTS/Goal Goal` and `Yesterday Sure VIP BTTS/Goal Goal`); the first keeps
    ToolBench's name, the others get a number."""
    out, k = name, 1
    while out in taken:
        k += 1
        out = f"{name}_{k}"[-MAX_NAME:]
    return out


def compact_description(description: str) -> str:
    """Drop ToolBench's 'This is the subfunction for tool ...' wrapper, keeping what the endpoint
    does: the wrapper costs prompt tokens and the tool is already in the function name."""
    m = _BOILERPLATE.match(description.strip())
    if not m:
        return description.strip()
    desc = (m.group("desc") or "").strip()
    return desc or f'An endpoint of the "{m.group("tool")}" API.'


def api_meta(api: dict[str, Any]) -> dict[str, Any]:
    """What the simulated tools need beyond the schema: where the endpoint comes from and the
    shape of its response."""
    return {"tool_name": api.get("tool_name"), "api_name": api.get("api_name"),
            "category": api.get("category_name"), "method": api.get("method"),
            "template_response": api.get("template_response")}


def query_records(query: dict[str, Any], index: int, *, source: str, group: str,
                  seen: set[tuple[str, str, str]]) -> list[CallItem | ToolSpec]:
    """The ToolSpecs not yet in `seen` (name, tool, endpoint) and the CallItem of one query record."""
    instruction = query["query"]
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("'query' must be a non-empty string")
    apis = query["api_list"]
    if not isinstance(apis, list) or not apis:
        raise ValueError("'api_list' must be a non-empty list")
    out: list[CallItem | ToolSpec] = []
    tools: list[dict[str, Any]] = []
    by_api: dict[tuple[str, str], str] = {}
    for i, api in enumerate(apis):
        if not isinstance(api, dict):
            raise ValueError(f"api_list[{i}] must be an object")
        try:
            tool = api_to_tool(api)
        except KeyError as e:
            raise ValueError(f"api_list[{i}]: missing field {e.args[0]!r}") from None
        key = (str(api["tool_name"]), str(api["api_name"]))
        if key in by_api:
            continue  # the same endpoint listed twice
        tool["name"] = unique_name(tool["name"], set(by_api.values()))
        by_api[key] = tool["name"]
        tools.append(tool)
        if (tool["name"], *key) not in seen:
            out.append(ToolSpec(source=source, tool=tool, meta=api_meta(api)))
    relevant = []
    for pair in query.get("relevant APIs") or []:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"'relevant APIs' entries must be [tool_name, api_name], got {pair!r}")
        if tuple(map(str, pair)) not in by_api:
            raise ValueError(f"relevant API {pair!r} is not in the query's api_list")
        relevant.append(by_api[tuple(map(str, pair))])
    query_id = query.get("query_id", index)
    meta: dict[str, Any] = {"query_id": query_id, "group": group}
    if relevant:
        meta["relevant_apis"] = relevant
    out.append(CallItem(id=f"{source}-{group}-{query_id}", source=source, instruction=instruction.strip(),
                        tools=tools, calls=[], meta=meta))
    seen.update((s.tool["name"], s.meta["tool_name"], s.meta["api_name"])  # only once all is well
                for s in out if isinstance(s, ToolSpec))
    return out


def load_queries(path: str | os.PathLike, *, skip_bad: bool = False, report: SkipReport | None = None,
                 source: str = "stabletoolbench") -> Iterator[CallItem | ToolSpec]:
    """Yield each endpoint's `ToolSpec` (once per file) and one `CallItem` per query."""
    group = Path(path).stem.removesuffix("_query")
    seen: set[tuple[str, str, str]] = set()
    yield from convert_each(path, lambda q, i: query_records(q, i, source=source, group=group, seen=seen),
                            skip_bad=skip_bad, report=report)
