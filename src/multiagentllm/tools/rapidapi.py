"""ToolBench / StableToolBench `api_list` entries as simulated, callable tools.

The tool name follows ToolBench's convention, `{api}_for_{tool}` in snake case (cut to 64
characters), so names match the trajectories in ToolBench's answer files.  When the data loader
`multiagentllm.data.loaders.stabletoolbench` is present, its `api_to_tool` defines the schema, so
the tools the loader's items offer and the tools this module executes are the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from multiagentllm.tools.registry import ToolRegistry
from multiagentllm.tools.simulated import ResponseCache, SimulatedTool

_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
          "enum": "string", "array": "array", "object": "object", "date (yyyy-mm-dd)": "string",
          "time (24-hour hh:mm)": "string"}


def standardize(name: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return re.sub(r"_+", "_", name) or "api"


def tool_name(api: dict[str, Any]) -> str:
    return f"{standardize(api['api_name'])}_for_{standardize(api['tool_name'])}"[:64]


def _own_api_to_tool(api: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for group in ("required_parameters", "optional_parameters"):
        for p in api.get(group) or []:
            kind = _TYPES.get(str(p.get("type", "string")).lower(), "string")
            schema: dict[str, Any] = {"type": kind, "description": str(p.get("description") or "")}
            if p.get("default") not in (None, ""):
                schema["example"] = p["default"]
            props[p["name"]] = schema
            if group == "required_parameters":
                required.append(p["name"])
    desc = str(api.get("api_description") or "").strip() or f"{api['api_name']} of {api['tool_name']}"
    return {"name": tool_name(api), "description": desc,
            "parameters": {"type": "object", "properties": props, "required": required}}


def api_to_tool(api: dict[str, Any]) -> dict[str, Any]:
    """OpenAI function schema of one `api_list` entry (the data loader's, when it exists)."""
    try:
        from multiagentllm.data.loaders.stabletoolbench import api_to_tool as loader_api_to_tool
    except ImportError:
        return _own_api_to_tool(api)
    return loader_api_to_tool(api)


def rapidapi_tool(api: dict[str, Any], cache: ResponseCache | None = None) -> SimulatedTool:
    template = api.get("template_response")
    if isinstance(template, str):  # some entries hold the template as JSON text
        try:
            template = json.loads(template)
        except json.JSONDecodeError:
            template = None
    return SimulatedTool(api_to_tool(api), template, domain=standardize(api.get("category_name") or "rapidapi"),
                         cache=cache)


def rapidapi_registry(apis: Iterable[dict[str, Any]], cache: ResponseCache | None = None,
                      registry: ToolRegistry | None = None) -> ToolRegistry:
    """A registry holding each API once (later duplicates of a name are skipped)."""
    registry = registry or ToolRegistry()
    for api in apis:
        t = rapidapi_tool(api, cache)
        if t.name not in registry:
            registry.register(t)
    return registry

