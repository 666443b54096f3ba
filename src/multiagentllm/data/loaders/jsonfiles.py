"""Reading the records of a JSON-array or JSONL file with the line each record starts on.

Public tool datasets ship both as JSON arrays (API-Bank, ToolAlpaca, NESTFUL v1) and as JSONL
(Seal-Tools, NESTFUL v2).  Errors must still name `file:line`, so for an array the start line of
every element is tracked while decoding it element by element.  `convert_each` is the loop every
loader here shares: convert one record into zero or more outputs; a record that fails becomes a
`DataError` naming file and line, raised, or (with `skip_bad`) counted and skipped.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from multiagentllm.io import DataError, SkipReport, skip_or_raise

T = TypeVar("T")
_WS = " \t\r\n"


def iter_json_records(path: str | os.PathLike) -> Iterator[tuple[int, int, Any]]:
    """Yield (line, index, record) for each element of a top-level JSON array, or each line of a
    JSONL file.  Invalid JSON raises `DataError` naming the line."""
    for line, index, obj in _records(path):
        if isinstance(obj, _BadJSON):
            raise obj.error
        yield line, index, obj


class _BadJSON:
    """Stands in for a record that is not JSON, so the caller decides whether to raise."""

    def __init__(self, error: DataError):
        self.error = error


def _records(path: str | os.PathLike) -> Iterator[tuple[int, int, Any]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    text = path.read_text(encoding="utf-8")
    start = len(text) - len(text.lstrip(_WS))
    if text[start:start + 1] == "[":
        yield from _array_records(path, text, start)
        return
    index = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, index, json.loads(line)
        except json.JSONDecodeError as e:
            yield n, index, _BadJSON(DataError(path, n, f"invalid JSON: {e.msg} (column {e.colno})"))
        index += 1


def _array_records(path: Path, text: str, start: int) -> Iterator[tuple[int, int, Any]]:
    """Elements of a JSON array; after invalid JSON nothing more can be read (one `_BadJSON`)."""
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    def bad(pos: int, reason: str) -> tuple[int, int, Any]:
        return line_of(pos), index, _BadJSON(DataError(path, line_of(pos), f"invalid JSON: {reason}"))

    decoder = json.JSONDecoder()
    pos, index = _skip_ws(text, start + 1), 0
    if text[pos:pos + 1] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield bad(e.pos, f"{e.msg} (record {index})")
            return
        yield line_of(pos), index, obj
        index += 1
        pos = _skip_ws(text, end)
        if text[pos:pos + 1] == "]":
            if text[pos + 1:].strip(_WS):
                yield bad(_skip_ws(text, pos + 1), "extra data after the array")
            return
        if text[pos:pos + 1] != ",":
            yield bad(pos, f"expected ',' or ']' after record {index - 1}")
            return
        pos = _skip_ws(text, pos + 1)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def read_json(path: str | os.PathLike) -> Any:
    """A whole JSON document; invalid JSON raises `DataError` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None


def convert_each(path: str | os.PathLike, convert: Callable[[Any, int], list[T | ValueError]], *,
                 skip_bad: bool = False, report: SkipReport | None = None) -> Iterator[T]:
    """Run `convert(record, index)` on every record of the file; see the module docstring.

    `convert` may return errors (`ValueError`s) among its outputs: a record that yields several
    items (one per instruction, say) reports a bad part without losing the good ones.  Invalid JSON in
    a JSON array cannot be read past: with `skip_bad` it is counted and the rest of that file is
    dropped."""
    for line, index, obj in _records(path):
        try:
            if isinstance(obj, _BadJSON):
                raise obj.error
            try:
                out = convert(obj, index)
            except KeyError as e:
                raise DataError(path, line, f"record {index}: missing field {e.args[0]!r}") from None
            except (ValueError, TypeError) as e:
                if isinstance(e, DataError):
                    raise
                raise DataError(path, line, f"record {index}: {e}") from None
        except DataError as err:
            skip_or_raise(err, skip_bad, report)
            continue
        for produced in out:
            if isinstance(produced, DataError):
                skip_or_raise(produced, skip_bad, report)
            elif isinstance(produced, ValueError):  # one bad part of a record that yields several
                skip_or_raise(DataError(path, line, f"record {index}: {produced}"), skip_bad, report)
            else:
                yield produced


