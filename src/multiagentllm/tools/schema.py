"""Derive an OpenAI function schema from a typed Python function and its docstring.

The schema is never written by hand: the signature gives names, types, defaults and which
arguments are required; the docstring's first paragraph gives the description and its "Args:"
section gives one description per argument (Google style)::

    def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
        '''Current weather for a city.

        Args:
            city: City name, e.g. "Paris".
            unit: Temperature unit.
        '''
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Example|Examples)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


class SchemaDerivationError(TypeError):
    """A tool function whose signature or docstring cannot become a schema."""


def json_type(annotation: Any, where: str) -> dict[str, Any]:
    """JSON schema of one parameter annotation (str, int, float, bool, list[X], dict, Literal,
    X | None)."""
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        kinds = {type(a) for a in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and next(iter(kinds)) in _SIMPLE:
            schema["type"] = _SIMPLE[next(iter(kinds))]
        return schema
    if origin in (list, tuple):
        return {"type": "array", "items": json_type(args[0], where) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return json_type(rest[0], where)
        if set(rest) == {int, float}:
            return {"type": "number"}
    raise SchemaDerivationError(f"{where}: unsupported annotation {annotation!r}")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Return (description, {arg: description}) from a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    desc: list[str] = []
    args: dict[str, str] = {}
    section, current, arg_indent = None, None, 0
    for line in lines:
        m = _SECTION.match(line)
        if m:
            section, current = m.group(1).lower(), None
            continue
        if section is None:
            if not line.strip() and desc:
                section = "body"  # only the first paragraph describes the tool
            elif line.strip():
                desc.append(line.strip())
        elif section in ("args", "arguments", "parameters") and line.strip():
            m = _ARG_LINE.match(line)
            indent = len(line) - len(line.lstrip())
            if m and (current is None or indent <= arg_indent):
                current, arg_indent = m.group(1).lstrip("*"), indent
                args[current] = m.group(3).strip()
            elif current is not None:
                args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(desc), args


def function_schema(fn: Callable[..., Any], *, name: str | None = None,
                    skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAI function schema of `fn`; parameters named in `skip` (injected state) are left
    out. Every parameter needs an annotation and a line in "Args:"."""
    name = name or fn.__name__
    description, arg_docs = parse_docstring(fn.__doc__ or "")
    if not description:
        raise SchemaDerivationError(f"tool {name!r} has no docstring description")
    hints = typing.get_type_hints(fn, include_extras=False)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in inspect.signature(fn).parameters.items():
        if pname in skip:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SchemaDerivationError(f"tool {name!r}: *args/**kwargs cannot be described")
        if pname not in hints:
            raise SchemaDerivationError(f"tool {name!r}: parameter {pname!r} has no type annotation")
        if pname not in arg_docs:
            raise SchemaDerivationError(f"tool {name!r}: parameter {pname!r} is missing from 'Args:'")
        schema = json_type(hints[pname], f"tool {name!r} parameter {pname!r}")
        schema["description"] = arg_docs[pname]
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        elif param.default is not None:
            schema["default"] = param.default
        properties[pname] = schema
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}
