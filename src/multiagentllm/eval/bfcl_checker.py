"""BFCL's AST checker for the single-turn Python categories, reimplemented.

The rules follow `bfcl_eval/eval_checker/ast_eval/ast_checker.py`:

* **simple**: exactly one call; **multiple**: exactly one call, checked against the expected
  function; **parallel** / **parallel_multiple**: as many calls as expected, matched in any
  order (each expected call takes the first unmatched output that passes);
  **irrelevance**: correct when the model makes no call at all.
* One call passes when: the function name is the expected one; every required parameter is
  present; every given parameter is documented and expected; its type is the documented one
  (an int is accepted for a float; a tuple counts as a list; a value of the type the answer
  lists is accepted as a variable); and its value is among the acceptable ones.  Strings are
  compared after dropping spaces and `,./-_*^`, lower-cased, `'` read as `"`; lists compare
  element-wise the same way; dicts key by key.  A parameter left out must have `""` among its
  acceptable values.

Functions are judged against BFCL's own descriptions (types like "dict", "float", "tuple"), which
the loader keeps in `meta["bfcl_functions"]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PY_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool,
                             "array": list, "tuple": list, "dict": dict, "any": str}
NESTED = ("array", "tuple")


@dataclass(frozen=True)
class Check:
    valid: bool
    error: str = ""
    kind: str = ""


OK = Check(True)


def _fail(kind: str, error: str) -> Check:
    return Check(False, error, kind)


def standardize(text: str) -> str:
    """BFCL's lenient string form: "April 1, 2024" == "april 1 2024"."""
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _std(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _answer_type(alternatives: list) -> type | None:
    """The type of the first acceptable value that is not the "leave it out" marker."""
    return next((type(a) for a in alternatives if a != ""), None)


def _check_type(param: str, value: Any, alternatives: list, expected: str, nested: str | None) -> tuple[Check, bool]:
    """(result, is_variable): the value's type against the documented one."""
    py = PY_TYPES[expected]
    answer_type = _answer_type(alternatives)
    is_variable = answer_type is not None and answer_type is not py
    if type(value) is py:
        if nested is None:
            return OK, is_variable
        inner = PY_TYPES[nested]
        for alt in alternatives:
            if not isinstance(alt, list):
                return OK, is_variable
            inner_answer = _answer_type(alt)
            if all(type(v) is inner or (inner_answer is not None and type(v) is inner_answer) for v in value):
                return OK, is_variable
        return _fail("type_error:nested", f"{param!r}: expected {expected} of {nested}, got {value!r}"), False
    if answer_type is type(value):
        return OK, True
    return _fail("type_error:simple", f"{param!r}: expected type {expected}, got {type(value).__name__} ({value!r})"), False


def _check_dict(param: str, value: dict, alternatives: list) -> Check:
    for alt in alternatives:
        if not isinstance(alt, dict):
            continue
        if all(k in alt and _std(v) in [_std(a) for a in alt[k]] for k, v in value.items()) and \
                all(k in value or "" in vs for k, vs in alt.items()):
            return OK
    return _fail("value_error:dict", f"{param!r}: {value!r} matches none of {alternatives!r}")


def _check_list_of_dicts(param: str, value: list, alternatives: list) -> Check:
    for alt in alternatives:
        if isinstance(alt, list) and len(alt) == len(value) and all(
                isinstance(v, dict) and _check_dict(param, v, [a]).valid for v, a in zip(value, alt)):
            return OK
    return _fail("value_error:list_dict", f"{param!r}: {value!r} matches none of {alternatives!r}")


def _check_list(param: str, value: list, alternatives: list) -> Check:
    # BFCL reads the "leave it out" marker "" as an empty list here; kept for agreement.
    wanted = [[_std(a) for a in alt] if isinstance(alt, list) else [] for alt in alternatives if alt == "" or isinstance(alt, list)]
    if [_std(v) for v in value] in wanted:
        return OK
    return _fail("value_error:list", f"{param!r}: {value!r} is not one of {alternatives!r}")


def check_call(function: dict[str, Any], output: dict[str, Any], expected: dict[str, dict[str, list]]) -> Check:
    """One model call `{name: {param: value}}` against one expected call `{name: {param: [alternatives]}}`."""
    name = function["name"]
    if name not in output:
        return _fail("wrong_func_name", f"function {name!r} not called (got {list(output)})")
    given = output[name]
    if not isinstance(given, dict):
        return _fail("wrong_arguments", f"arguments of {name!r} are not an object")
    (answer,) = expected.values()
    props = function.get("parameters", {}).get("properties", {})
    for param in function.get("parameters", {}).get("required", []):
        if param not in given:
            return _fail("missing_required", f"missing required parameter {param!r}")
    for param, value in given.items():
        if param not in props or param not in answer:
            return _fail("unexpected_param", f"unexpected parameter {param!r}")
        expected_type = props[param].get("type", "any")
        if expected_type not in PY_TYPES:
            return _fail("unsupported_type", f"{param!r}: type {expected_type!r} is not a Python BFCL type")
        nested = props[param].get("items", {}).get("type", "any") if expected_type in NESTED else None
        if isinstance(value, tuple):
            value = list(value)
        if expected_type == "float" and type(value) is int:
            value = float(value)
        result, is_variable = _check_type(param, value, answer[param], expected_type, nested)
        if not result.valid:
            return result
        if not is_variable:
            py = PY_TYPES[expected_type]
            if py is dict:
                result = _check_dict(param, value, answer[param])
            elif py is list and nested == "dict":
                result = _check_list_of_dicts(param, value, answer[param])
            elif py is str:
                ok = _std(value) in [_std(a) for a in answer[param] if isinstance(a, str)]
                result = OK if ok else _fail("value_error:string", f"{param!r}: {value!r} is not one of {answer[param]!r}")
            elif py is list:
                result = _check_list(param, value, answer[param])
            elif value not in answer[param]:
                result = _fail("value_error:others", f"{param!r}: {value!r} is not one of {answer[param]!r}")
            if not result.valid:
                return result
        elif value not in answer[param]:
            return _fail("value_error:others", f"{param!r}: {value!r} is not one of {answer[param]!r}")
    for param, alternatives in answer.items():
        if param not in given and "" not in alternatives:
            return _fail("missing_optional", f"parameter {param!r} left out but it has no default")
    return OK


def _function(functions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((f for f in functions if f.get("name") == name), None)


def check(category: str, functions: list[dict[str, Any]], output: list[dict[str, Any]],
          possible_answer: list[dict[str, Any]] | None) -> Check:
    """Judge a model's calls (`[{name: {param: value}}]`) for one BFCL item."""
    if "irrelevance" in category:
        return OK if not output else _fail("irrelevance", f"made {len(output)} call(s) where none fits")
    if possible_answer is None:
        raise ValueError(f"category {category!r} needs its possible answer")
    if len(output) != len(possible_answer):
        return _fail("wrong_count", f"expected {len(possible_answer)} call(s), got {len(output)}")
    if "parallel" not in category:
        expected = possible_answer[0]
        function = _function(functions, next(iter(expected)))
        if function is None:
            raise ValueError(f"the expected function {next(iter(expected))!r} is not among the item's functions")
        return check_call(function, output[0], expected)
    used: set[int] = set()
    for i, expected in enumerate(possible_answer):
        function = _function(functions, next(iter(expected)))
        if function is None:
            raise ValueError(f"the expected function {next(iter(expected))!r} is not among the item's functions")
        last = _fail("no_match", "no output left to match")
        for j, call in enumerate(output):
            if j in used:
                continue
            last = check_call(function, call, expected)
            if last.valid:
                used.add(j)
                break
        if not last.valid:
            return _fail("no_match", f"no call matches expected call {i} ({next(iter(expected))}): {last.error}")
    return OK
