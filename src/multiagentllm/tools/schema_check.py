"""Check a tool's function schema when the tool comes in, not when a model is decoding for it.

The runtime compiles each tool's `parameters` into a decoding grammar and validates calls
against it, so a schema that is not JSON Schema would otherwise fail far from its cause: at
generation time, or as a confusing argument error.  `check_tool_schema` raises a
`ToolSchemaError` that names the tool and the JSON path of the problem::

    tool 'get_weather': parameters.properties.city.type: 'str' is not a JSON Schema type;
    did you mean 'string'?

One walk over the schema catches what the meta-schema cannot say clearly: Python type names
("str", "dict", "float"), with the JSON Schema name to use; `required` naming an argument that is
not declared (the registry rejects undeclared arguments, so such a tool could never be called);
a `$ref` that does not resolve inside the schema, or that leads back to itself (a cycle either
describes nothing, like `{"$ref": "#"}`, or an unbounded tree of arguments that no prompt can
list); and a root type other than "object".  jsonschema's Draft 7 meta-schema (the draft the
registry validates arguments with) then catches the rest.  The grammar library (llguidance) is
not asked: it is imported only when constrained decoding is chosen, and its errors name neither
the tool nor the path.

Data sources that write types in their own dialect (BFCL's "dict", "float", "tuple", "any";
Seal-Tools' "str") are translated to JSON Schema by their loaders (`data/loaders/bfcl.py`,
`paramschema.py`), so the simulated tools built from them pass; an unknown name is reported here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from urllib.parse import unquote

import jsonschema

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
# Type names seen in real tool data -> the JSON Schema type to suggest (None: leave "type" out).
PYTHON_TYPES: dict[str, str | None] = {
    "str": "string", "text": "string", "char": "string", "int": "integer", "long": "integer",
    "float": "number", "double": "number", "decimal": "number", "bool": "boolean",
    "dict": "object", "map": "object", "list": "array", "tuple": "array", "set": "array",
    "none": "null", "nonetype": "null", "any": None,
}
MAX_DEPTH = 64  # deeper nesting is not a tool's arguments (and would exhaust the recursion limit)
MAX_REFS = 256  # the cycle search is quadratic in the number of `$ref`s; real tools have a few

# Keywords whose value is one schema, a list of schemas, or a {name: schema} map.
_ONE = ("additionalProperties", "additionalItems", "items", "contains", "not", "if", "then", "else",
        "propertyNames", "unevaluatedProperties", "unevaluatedItems")
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

JsonPath = tuple[str | int, ...]
Fail = Callable[[JsonPath, str], NoReturn]


class ToolSchemaError(ValueError):
    """A tool schema that is not usable JSON Schema; `tool` and `path` say which and where."""

    def __init__(self, where: str, tool: str | None, path: str, reason: str):
        self.tool, self.path, self.reason = tool, path, reason
        who = f"{where} {tool!r}" if tool is not None else where
        super().__init__(f"{who}: {path}: {reason}" if path else f"{who}: {reason}")


def json_path(path: JsonPath) -> str:
    """`("parameters", "properties", "a b", "anyOf", 0)` -> `parameters.properties["a b"].anyOf[0]`."""
    out = ""
    for token in path:
        if isinstance(token, int):
            out += f"[{token}]"
        elif _IDENT.match(token):
            out += f".{token}" if out else token
        else:
            out += f'["{token}"]'
    return out


def _type_hint(name: str) -> str:
    low = name.strip().lower()
    if low in JSON_TYPES:
        return f"; did you mean {low!r}?"
    if low in PYTHON_TYPES:
        fix = PYTHON_TYPES[low]
        return f"; did you mean {fix!r}?" if fix else "; leave 'type' out to accept any value"
    close = difflib.get_close_matches(low, JSON_TYPES, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f" (one of {', '.join(JSON_TYPES)})"


class _Walk:
    """One pass over a parameters schema: raises on the first problem, collects the `$ref`s."""

    def __init__(self, fail: Fail):
        self.fail = fail
        self.refs: list[tuple[JsonPath, str]] = []  # (where the $ref is, its value)

    def schema(self, node: Any, path: JsonPath, depth: int = 0) -> None:
        if isinstance(node, bool):
            return
        if not isinstance(node, dict):
            hint = f"; write {{'type': {node!r}}}" if isinstance(node, str) else ""
            self.fail(path, f"must be a schema (a JSON object), got {type(node).__name__}{hint}")
        if depth > MAX_DEPTH:
            self.fail(path, f"is nested more than {MAX_DEPTH} levels deep")
        if "type" in node:
            self.type(node["type"], (*path, "type"))
        for key in _MAP:
            if key in node and not isinstance(node[key], dict):
                self.fail((*path, key), f"must be an object mapping names to schemas, got "
                                        f"{type(node[key]).__name__}")
        if "required" in node:
            self.required(node, path)
        if "$ref" in node:
            if not isinstance(node["$ref"], str):
                self.fail((*path, "$ref"), "must be a string")
            self.refs.append((path, node["$ref"]))
        for sub, sub_path in _children(node, path):
            self.schema(sub, sub_path, depth + 1)

    def type(self, value: Any, path: JsonPath) -> None:
        names = value if isinstance(value, list) else [value]
        for i, name in enumerate(names):
            at = (*path, i) if isinstance(value, list) else path
            if not isinstance(name, str):
                self.fail(at, f"must be a type name (a string), got {type(name).__name__}")
            if name not in JSON_TYPES:
                self.fail(at, f"{name!r} is not a JSON Schema type{_type_hint(name)}")

    def required(self, node: dict[str, Any], path: JsonPath) -> None:
        required = node["required"]
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            self.fail((*path, "required"), "must be a list of property names")
        open_ended = any(k in node for k in ("patternProperties", "allOf", "anyOf", "oneOf")) \
            or node.get("additionalProperties") not in (None, False)
        if path and ("properties" not in node or open_ended):
            return  # a nested object may require keys it does not list; the arguments object may not
        props = node.get("properties") or {}
        unknown = [r for r in required if r not in props]
        if unknown:
            declared = ", ".join(map(repr, props)) or "none"
            self.fail((*path, "required"), f"names {', '.join(map(repr, unknown))}, not among the "
                                           f"properties (declared: {declared})")


def _children(node: dict[str, Any], path: JsonPath) -> Iterator[tuple[Any, JsonPath]]:
    """The subschemas of `node` with their paths (the meta-schema check reports other shapes)."""
    for key in _ONE:
        if key in node:
            if key == "items" and isinstance(node[key], list):  # Draft 7 tuple form
                yield from ((s, (*path, key, i)) for i, s in enumerate(node[key]))
            else:
                yield node[key], (*path, key)
    for key in _MANY:
        if isinstance(node.get(key), list):
            yield from ((s, (*path, key, i)) for i, s in enumerate(node[key]))
    for key in _MAP:
        if isinstance(node.get(key), dict):
            yield from ((s, (*path, key, name)) for name, s in node[key].items())


def _pointer(ref: str) -> JsonPath | None:
    """The tokens of a local reference (`#/$defs/a`), or None for one that is not local."""
    if ref == "#":
        return ()
    if not ref.startswith("#/"):
        return None
    return tuple(unquote(t).replace("~1", "/").replace("~0", "~") for t in ref[2:].split("/"))


def _lookup(root: Any, tokens: JsonPath) -> tuple[JsonPath | None, Any]:
    """(the path as the walk writes it, list indices as ints; the value), or (None, None)."""
    node, path = root, []
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
            path.append(token)
        elif isinstance(node, list) and str(token).isdigit() and int(token) < len(node):
            node = node[int(token)]
            path.append(int(token))
        else:
            return None, None
    return tuple(path), node


def _check_refs(params: dict[str, Any], refs: list[tuple[JsonPath, str]], fail: Fail) -> None:
    """Every `$ref` resolves to a schema inside `params`, and none leads back to itself: a ref
    whose target contains a ref (its own, or one whose target contains it...) is recursive."""
    if len(refs) > MAX_REFS:
        fail((), f"holds {len(refs)} $refs; at most {MAX_REFS} are checked")
    targets: dict[JsonPath, JsonPath] = {}
    for at, ref in refs:
        tokens = _pointer(ref)
        if tokens is None:
            fail((*at, "$ref"), f"{ref!r} does not resolve: only references inside the schema "
                                "('#' or '#/...') can be resolved")
        found, target = _lookup(params, tokens)
        if found is None:
            fail((*at, "$ref"), f"{ref!r} does not resolve: there is nothing at that path")
        if not isinstance(target, (dict, bool)):
            fail((*at, "$ref"), f"{ref!r} points at a {type(target).__name__}, not a schema")
        targets[at] = found

    def inside(at: JsonPath, target: JsonPath) -> bool:
        return at[: len(target)] == target

    state: dict[JsonPath, int] = {}  # 1: on the current chain, 2: known not to recurse

    def visit(at: JsonPath, chain: list[JsonPath]) -> None:
        state[at] = 1
        for other in targets:
            if inside(other, targets[at]):
                if state.get(other) == 1:
                    cycle = chain[chain.index(other):] + [other]
                    via = " -> ".join(_ref_text(targets[a]) for a in cycle[:-1])
                    fail((*other, "$ref"), f"{_ref_text(targets[other])!r} is recursive: following "
                                           f"it leads back to it ({via} -> {_ref_text(targets[other])})")
                if other not in state:
                    visit(other, [*chain, other])
        state[at] = 2

    for at in targets:
        if at not in state:
            visit(at, [at])


def _ref_text(tokens: JsonPath) -> str:
    return "#" + "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def check_tool_schema(schema: dict[str, Any], where: str = "tool") -> None:
    """Raise `ToolSchemaError` (naming the tool and the JSON path) unless `schema` is an OpenAI
    function schema whose `parameters` is a usable JSON Schema of an object."""
    if not isinstance(schema, dict):
        raise ToolSchemaError(where, None, "", f"must be a function schema (an object), got "
                                               f"{type(schema).__name__}")
    name = schema.get("name")
    if not isinstance(name, str) or not name:
        raise ToolSchemaError(where, None, "name", "must be a non-empty string")

    def fail(path: JsonPath, reason: str) -> NoReturn:
        raise ToolSchemaError(where, name, json_path(path), reason)

    params = schema.get("parameters")
    if params is None:
        return  # a tool without arguments
    if not isinstance(params, dict):
        fail(("parameters",), f"must be a JSON Schema object, got {type(params).__name__}")
    walk = _Walk(lambda path, reason: fail(("parameters", *path), reason))
    if "type" in params:
        walk.type(params["type"], ("type",))  # "dict" is told to write "object"
    if params.get("type", "object") != "object":
        fail(("parameters", "type"), f"the arguments are a JSON object, so the root type must be "
                                     f"'object', not {params['type']!r}")
    walk.schema(params, ())
    _check_refs(params, walk.refs, lambda path, reason: fail(("parameters", *path), reason))
    try:
        jsonschema.Draft7Validator.check_schema(params)
    except jsonschema.SchemaError as e:
        fail(("parameters", *e.absolute_path), e.message)

