"""Grammars of the roles' outputs, for schema-constrained decoding.

A small model gets the *form* of a turn wrong far more often than its content: a caller writes
`True` for `true`, names a tool that is not offered, leaves out a required argument; a planner
rambles on without a decision. Each role's output format is a small language, so the runtime
decodes under a grammar of it and those mistakes cannot be made:

* caller:  `Action: <one offered tool>\\nAction Input: <JSON valid against that tool's schema>`
  (required keys present, types, enums, nested objects and arrays; free text inside strings;
  no key the tool does not take; separators as training rendered them, `", "` and `": "`);
* planner: `Rationale: <one line>\\nNext: Caller | Summarizer | Give up` (without `Summarizer`
  while the request asks for an action that has not happened);
* decision (the planner's retry, whose prompt already ends with `Next:`): one of the three words.

The summarizer writes free text and is not constrained.

The grammars are Lark text with embedded JSON Schemas (`%json{...}`), the format of the
llguidance library, which vLLM also uses for structured outputs. A `Grammar` is plain text, so
any backend can take it: the in-process runners compile it into token masks
(`models/backends/constrain.py`), an OpenAI-compatible server receives it as
`structured_outputs`. A tool schema the library cannot compile is replaced by the closest schema
it can (unimplemented keywords removed), or by "any JSON object", with a warning naming the tool
and the keyword: never a crash at generation time.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# How training renders arguments (`render.format_arguments` is `json.dumps` with its defaults).
JSON_STYLE = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
# A free string argument is at most this long: a small model can repeat itself inside a string
# until the caller's token budget (128) runs out, leaving JSON that never closes.
STRING_CHARS = 200
ARRAY_ITEMS = 16  # the same for a list that repeats one item (seen: "gene_flow", "gene_flow", ...)
ANY_OBJECT: dict[str, Any] = {"type": "object"}
_UNIMPLEMENTED = re.compile(r"Unimplemented keys: \[([^\]]*)\]")


class GrammarWarning(UserWarning):
    """A tool schema that could only be constrained approximately (or not at all)."""


@dataclass(frozen=True)
class Grammar:
    """A role's output language as llguidance Lark text; `role` is the turn it constrains."""

    lark: str
    role: str

    @property
    def key(self) -> str:
        return hashlib.sha256(self.lark.encode()).hexdigest()[:16]


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _validate(schema: dict[str, Any]) -> str:
    """'' when llguidance compiles `schema` as a JSON grammar, else its error."""
    from llguidance import LLMatcher

    error, messages = LLMatcher.validate_grammar_with_warnings(
        LLMatcher.grammar_from_lark(f"start: %json{json.dumps(schema)}"))
    return messages[0] if error else ""


# Where a JSON Schema holds other schemas: a map of them, one, or a list of them.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = ("items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties",
               "propertyNames", "contains", "not", "if", "then", "else")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _rewrite(schema: Any, fix: Any) -> Any:
    """`schema` with `fix(subschema) -> subschema` applied to it and every schema inside it,
    innermost first; literal values (`enum`, `const`, `default`, ...) are left alone."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _rewrite(sub, fix) for name, sub in out[key].items()}
    for key in _SCHEMA_ONE + _SCHEMA_LISTS:
        if key in out:
            value = out[key]
            out[key] = [_rewrite(v, fix) for v in value] if isinstance(value, list) else _rewrite(value, fix)
    return fix(out)


def _strip(schema: Any, keys: set[str]) -> Any:
    """`schema` without the keywords `keys`, at any depth (property names are kept)."""
    return _rewrite(schema, lambda s: {k: v for k, v in s.items() if k not in keys})


def _bound(s: dict[str, Any]) -> dict[str, Any]:
    kinds = s.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and "enum" not in s:
        s.setdefault("maxLength", STRING_CHARS)
    if "array" in kinds:
        s.setdefault("maxItems", ARRAY_ITEMS)
    return s


def _bound_strings(schema: Any) -> Any:
    """`schema` with `maxLength: STRING_CHARS` on every string type and `maxItems: ARRAY_ITEMS` on
    every array type that has no bound of its own."""
    return _rewrite(schema, _bound)


@lru_cache(maxsize=4096)
def _fit(name: str, parameters_json: str) -> tuple[str, tuple[str, ...]]:
    """(the JSON Schema the grammar uses for the tool's arguments, warnings)."""
    schema = _bound_strings(json.loads(parameters_json))
    schema.setdefault("additionalProperties", False)  # the registry rejects unknown arguments
    schema["x-guidance"] = JSON_STYLE
    removed: list[str] = []
    for _ in range(8):  # each round removes the keywords the library named
        error = _validate(schema)
        if not error:
            if removed:
                return json.dumps(schema), (f"tool {name!r}: the grammar library does not implement "
                                            f"{', '.join(map(repr, removed))}; its arguments are "
                                            "constrained without them",)
            return json.dumps(schema), ()
        found = _UNIMPLEMENTED.search(error)
        keys = set(json.loads(f"[{found.group(1)}]")) if found else set()
        if not keys or keys <= set(removed):
            break
        removed += sorted(keys - set(removed))
        schema = _strip(schema, keys)
    reason = error.splitlines()[0] if error else "unknown error"
    return json.dumps({**ANY_OBJECT, "x-guidance": JSON_STYLE}), (
        f"tool {name!r}: its parameters schema cannot be compiled into a grammar ({reason}); "
        "its arguments are constrained only to be a JSON object",)


def arguments_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema that constrains `tool`'s arguments (warns once if it had to be loosened)."""
    params = tool.get("parameters") or {"type": "object", "properties": {}}
    fitted, notes = _fit(tool["name"], json.dumps(params))  # key order kept: it is the argument order
    for note in notes:
        _warn_once(note)
    return json.loads(fitted)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, GrammarWarning, stacklevel=3)


@lru_cache(maxsize=512)
def _caller_lark(tools_json: str) -> str:
    tools = json.loads(tools_json)
    alternatives = []
    for t in tools:
        head = _literal("Action: " + t["name"] + "\nAction Input: ")
        alternatives.append(f"{head} %json{json.dumps(arguments_schema(t))}")
    return "start: " + "\n     | ".join(alternatives)


def caller_grammar(tools: list[dict[str, Any]]) -> Grammar | None:
    """One call to one of `tools`, its arguments valid for that tool; None when no tool is offered."""
    if not tools:
        return None
    slim = [{"name": t["name"], "parameters": t.get("parameters")} for t in tools]
    return Grammar(_caller_lark(json.dumps(slim)), "caller")


RATIONALE_CHARS = 400  # training rationales: p99 215, p99.9 259 characters


def planner_grammar(answer: bool = True) -> Grammar:
    """A one-line rationale, then a decision; `answer=False` leaves out `Summarizer` (the runtime
    does so while the request asks for an action no tool has done yet, see `agent.grounding`)."""
    choices = '"Caller" | "Summarizer" | "Give up"' if answer else '"Caller" | "Give up"'
    return Grammar(f'start: "Rationale: " /[^\\n]{{0,{RATIONALE_CHARS}}}/ "\\nNext: " ({choices})', "planner")


def decision_grammar(answer: bool = True) -> Grammar:
    """The decision alone (the planner's retry, whose prompt already ends with `Next:`)."""
    choices = '"Caller" | "Summarizer" | "Give up"' if answer else '"Caller" | "Give up"'
    return Grammar(f'start: " " ({choices})', "decision")


PLANNER = planner_grammar()
DECISION = decision_grammar()
