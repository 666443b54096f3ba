"""ToolBench / StableToolBench `api_list` entries: their names, schemas, and simulated tools.

Tool names follow ToolBench's convention, so they match the names in ToolBench's answer files:
`{api}_for_{tool}`, each part lower snake case (anything but letters, digits and `_` becomes `_`,
repeats collapse, a leading digit gets `get_`), cut to the last 64 characters (OpenAI's limit on
function names).  Parameter names that ToolBench renames (`id` -> `is_id`, ...) are renamed the
same way.  `api_to_tool` is the one place that does this, for any `api_list` entry: the data
loader (`multiagentllm.data.loaders.stabletoolbench`) offers the tools it defines, and this module
executes them, so the two are the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from multiagentllm.tools.registry import ToolRegistry
from multiagentllm.tools.simulated import ResponseCache, SimulatedTool

MAX_NAME = 64
# ToolBench renames these parameter names (Python keywords and `id`) with an `is_` prefix.
_RENAMED = {"from", "class", "return", "false", "true", "id", "and"}
_NOT_NAME = re.compile(r"[^\u4e00-\u9fa5a-zA-Z0-9_]")
# RapidAPI parameter types -> JSON schema types (dates and times are strings with a format hint).
_TYPES = {"STRING": "string", "NUMBER": "number", "INTEGER": "integer", "BOOLEAN": "boolean",
          "ARRAY": "array", "OBJECT": "object", "ENUM": "string"}


def standardize(name: str) -> str:
    """ToolBench's lower-snake form of a tool or endpoint name."""
    out = re.sub(r"_+", "_", _NOT_NAME.sub("_", name)).lower().strip("_")
    return f"get_{out}" if out[:1].isdigit() else out


def param_name(name: str) -> str:
    out = standardize(name)
    return f"is_{out}" if out in _RENAMED else out


def function_name(tool_name: str, api_name: str) -> str:
    """`{api}_for_{tool}` as ToolBench names it (the last 64 characters)."""
    return f"{param_name(api_name)}_for_{standardize(tool_name)}"[-MAX_NAME:]


def _param_schema(param: dict[str, Any]) -> dict[str, Any]:
    raw_type = str(param.get("type") or "").strip()
    schema: dict[str, Any] = {}
    json_type = _TYPES.get(raw_type.upper())
    description = str(param.get("description") or "").strip()
    if json_type is None and raw_type.upper().startswith(("DATE", "TIME")):
        json_type = "string"
        description = f"{description} ({raw_type})".strip()  # keep the format the source states
    elif json_type is None and raw_type:
        description = f"{description} (type: {raw_type})".strip()
    if json_type:
        schema["type"] = json_type
    schema["description"] = description
    default = param.get("default")
    if default not in (None, ""):
        schema["examples"] = [default]  # RapidAPI's "default" is an example value, not a default
    return schema


def api_to_tool(api: dict[str, Any]) -> dict[str, Any]:
    """One ToolBench/StableToolBench `api_list` entry -> OpenAI function schema.

    Needs `tool_name` and `api_name` (KeyError otherwise); parameters and description may be
    absent (ToolBench's inference demo lists endpoints by name only)."""
    name = function_name(str(api["tool_name"]), str(api["api_name"]))
    description = (str(api.get("api_description") or "").strip()
                   or f'Endpoint "{api["api_name"]}" of the "{api["tool_name"]}" API.')
    properties: dict[str, Any] = {}
    required: list[str] = []
    for group in ("required_parameters", "optional_parameters"):
        params = api.get(group) or []
        if not isinstance(params, list):
            raise ValueError(f"{group} of {name!r} must be a list")
        for param in params:
            if not isinstance(param, dict) or not param.get("name"):
                raise ValueError(f"a parameter of {name!r} has no 'name'")
            pname = param_name(str(param["name"]))
            properties[pname] = _param_schema(param)
            if group == "required_parameters" and pname not in required:
                required.append(pname)
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}


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
