"""Loose parameter descriptions -> JSON-schema objects for OpenAI function tools.

API-Bank, Seal-Tools and NESTFUL describe parameters as `{name: {"type": "str", "description":
..., "required": true, ...}}` with Python type names (`str`, `List[str]`, `datetime`), title-case
names (`String`, `Number`), or none at all.  The rest of the project speaks JSON schema, so each
parameter becomes `{"type", "description"}` plus the enum, default and items the source states;
a type this table cannot name is left out (any value) and the original is kept in the description
so nothing the source said is lost.
"""

from __future__ import annotations

import re
from typing import Any

_BASIC = {
    "str": "string", "string": "string", "text": "string", "char": "string", "datetime": "string",
    "date": "string", "time": "string", "enum": "string", "email": "string", "url": "string",
    "int": "integer", "integer": "integer", "long": "integer",
    "float": "number", "number": "number", "double": "number", "decimal": "number",
    "int or float": "number", "float or int": "number",
    "bool": "boolean", "boolean": "boolean",
    "list": "array", "array": "array", "tuple": "array", "set": "array",
    "dict": "object", "object": "object", "map": "object", "json": "object",
}
_GENERIC = re.compile(r"^(list|tuple|set|sequence|dict|mapping|optional)\s*\[(.*)\]$", re.I)


def json_type(name: Any) -> dict[str, Any] | None:
    """JSON-schema fragment for a loose type name (`"List[str]"` -> array of string), or None."""
    if isinstance(name, list):  # JSON-schema union, e.g. ["integer", "number"]
        types = [json_type(n) for n in name]
        kinds = sorted({t["type"] for t in types if t})
        if kinds == ["integer", "number"]:
            return {"type": "number"}
        return {"type": kinds} if kinds and len(kinds) == len(types) else None
    if not isinstance(name, str):
        return None
    raw = name.strip()
    low = raw.lower()
    if low in _BASIC:
        return {"type": _BASIC[low]}
    if low.startswith("date") or low.startswith("time"):  # "Date (yyyy-mm-dd)"
        return {"type": "string"}
    m = _GENERIC.match(raw)
    if m:
        outer, inner = m.group(1).lower(), m.group(2).strip()
        if outer == "optional":
            return json_type(inner)
        if outer in ("dict", "mapping"):
            return {"type": "object"}
        items = json_type(inner) if "," not in inner else None
        return {"type": "array", **({"items": items} if items else {})}
    return None


def param_schema(spec: Any) -> dict[str, Any]:
    """One parameter description -> JSON schema (keys the source gives are carried over)."""
    if not isinstance(spec, dict):
        return {"description": str(spec)}
    if "properties" in spec or "items" in spec or isinstance(spec.get("type"), list):
        out = {k: v for k, v in spec.items() if k != "required"}  # already JSON schema
        converted = json_type(spec.get("type")) if "type" in spec else None
        if converted:
            out.update(converted if "items" not in spec else {"type": converted["type"]})
        return out
    out: dict[str, Any] = {}
    converted = json_type(spec.get("type")) if "type" in spec else None
    if converted:
        out.update(converted)
    desc = str(spec.get("description") or "")
    if spec.get("type") is not None and converted is None:
        desc = f"{desc} (type: {spec['type']})".strip()
    if desc or "description" in spec:
        out["description"] = desc
    choices = next((spec[k] for k in ("enum", "allowed_values", "choices") if spec.get(k)), None)
    if isinstance(choices, list) and choices:
        out["enum"] = choices
    for src, dst in (("default", "default"), ("default_value", "default"), ("format", "format"),
                     ("example", "examples"), ("examples", "examples"), ("unit", "x-unit")):
        if src in spec and spec[src] not in (None, "") and dst not in out:
            out[dst] = spec[src] if dst != "examples" or isinstance(spec[src], list) else [spec[src]]
    return out


def object_schema(params: Any, required: list[str] | None = None) -> dict[str, Any]:
    """`{name: spec}` (or a JSON-schema object) -> `{"type": "object", "properties", "required"}`.

    `required` overrides; otherwise a parameter is required where its spec says
    `"required": true`.  Raises ValueError on a shape that is neither."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"parameters must be an object, got {type(params).__name__}")
    if params.get("type") == "object" and isinstance(params.get("properties", {}), dict) \
            and ("properties" in params or len(params) == 1):
        props = {k: param_schema(v) for k, v in params.get("properties", {}).items()}
        req = required if required is not None else list(params.get("required") or [])
        return {"type": "object", "properties": props, "required": req}
    props = {str(k): param_schema(v) for k, v in params.items()}
    if required is None:
        required = [k for k, v in params.items() if isinstance(v, dict) and v.get("required") is True]
    return {"type": "object", "properties": props, "required": list(required)}
