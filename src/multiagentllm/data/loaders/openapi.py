"""OpenAPI 3 documents -> OpenAI function schemas, one per operation.

A function's arguments are what a client fills in to make the request, as ToolAlpaca's own
executor does: the operation's `parameters` (query, path, header, cookie; path-level ones
included) and the properties of its JSON request body, side by side.  `$ref`s into
`components` are resolved (to a bounded depth: schemas may be recursive).

Generated documents are not always well formed; two slips seen in the ToolAlpaca eval sets are
read as meant: path items nested inside another path item, and `components` placed under
`paths`.  A function is named by its `operationId`, or, without one, ToolAlpaca's way:
`/jokes/random/{category}` + `get` -> `jokes_random_category_get`; a path written without
its leading `/` is read as if it had one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from multiagentllm.types import normalize_tool

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_REF_DEPTH = 4
_SCHEMA_KEYS = ("type", "enum", "items", "format", "default", "properties", "required",
                "minimum", "maximum", "pattern", "example", "nullable")


@dataclass
class Operation:
    name: str
    path: str
    method: str
    tool: dict[str, Any]


def function_name(path: str, method: str) -> str:
    return re.sub(r"[{}]", "", path.strip("/")).replace("/", "_") + "_" + method


def operations(doc: dict[str, Any]) -> list[Operation]:
    """Every operation of the document, in document order."""
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ValueError("OpenAPI document has no 'paths' object")
    components = doc.get("components") or doc["paths"].get("components") or {}
    resolver = _Resolver({"components": components})
    out: list[Operation] = []
    for path, item in _path_items(doc["paths"]):
        shared = item.get("parameters") if isinstance(item.get("parameters"), list) else []
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                name = op.get("operationId") or function_name(path, method)
                out.append(Operation(name, path, method, _tool(name, op, shared, resolver)))
    return out


def _path_items(paths: dict[str, Any], *, top: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """Path items; at the top level every key but `components`/`x-...` (some documents drop
    the leading `/`), below it the keys that start with `/` (nested by mistake)."""
    found = []
    for key, item in paths.items():
        is_path = key.startswith("/") or top and key != "components" and not key.startswith("x-")
        if is_path and isinstance(item, dict):
            found.append((key, item))
            found.extend(_path_items(item, top=False))
    return found


def _tool(name: str, op: dict[str, Any], shared: list[Any], resolver: "_Resolver") -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for raw in list(shared) + list(op.get("parameters") or []):
        param = resolver.resolve(raw)
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        schema = resolver.resolve(param.get("schema") or {})
        prop = _compact(schema if isinstance(schema, dict) else {})
        prop["description"] = str(param.get("description") or "").strip()
        props[param["name"]] = prop
        if param.get("required") and param["name"] not in required:
            required.append(param["name"])
    body = resolver.resolve(op.get("requestBody") or {})
    content = body.get("content") if isinstance(body, dict) else None
    if isinstance(content, dict) and content:
        media = content.get("application/json") or next(iter(content.values()))
        schema = resolver.resolve((media or {}).get("schema") or {}) if isinstance(media, dict) else {}
        for pname, pschema in (schema.get("properties") or {}).items() if isinstance(schema, dict) else ():
            props[pname] = _compact(resolver.resolve(pschema) or {})
        for pname in (schema.get("required") or []) if isinstance(schema, dict) else ():
            if pname in props and pname not in required:
                required.append(pname)
    description = str(op.get("summary") or op.get("description") or "").strip()
    return normalize_tool({"name": name, "description": description,
                           "parameters": {"type": "object", "properties": props, "required": required}},
                          where=f"operation {name!r}")


def _compact(schema: Any) -> dict[str, Any]:
    """The parts of a schema a caller needs (no examples of whole responses, no vendor keys)."""
    if not isinstance(schema, dict):
        return {}
    out = {k: copy.deepcopy(schema[k]) for k in _SCHEMA_KEYS if k in schema}
    if "description" in schema:
        out["description"] = str(schema["description"]).strip()
    return out


class _Resolver:
    def __init__(self, root: dict[str, Any]):
        self.root = root

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """A copy of `node` with `$ref`s replaced (beyond the depth limit: an empty schema)."""
        if isinstance(node, list):
            return [self.resolve(v, depth) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            if depth >= _MAX_REF_DEPTH:
                return {}
            return self.resolve(self._lookup(str(node["$ref"])), depth + 1)
        return {k: self.resolve(v, depth) for k, v in node.items()}

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {}
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return node
