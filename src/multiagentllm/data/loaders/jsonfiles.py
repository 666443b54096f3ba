"""Reading the records of a JSON-array or JSONL file with the line each record starts on.

Public tool datasets ship both as JSON arrays (API-Bank, ToolAlpaca, NESTFUL v1) and as JSONL
(Seal-Tools, NESTFUL v2).  Errors must still name `file:line`, so for an array the start line of
every element is tracked while decoding it element by element.  `convert_each` is the loop every
loader here shares: convert one record into zero or more outputs; a record that fails becomes a
`DataError` naming file and line, raised, or (with `skip_bad`) counted and skipped.
"""

from __future__ import annotations

import bisect
import codecs
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from multiagentllm.io import DataError, SkipReport, check_unicode, json_lines, parse_json, read_text, skip_or_raise

T = TypeVar("T")
_WS = " \t\r\n"


def iter_json_records(path: str | os.PathLike) -> Iterator[tuple[int, int, Any]]:
    """Yield (line, index, record) for each element of a top-level JSON array, or each line of a
    JSONL file.  A record that does not read raises `DataError` naming the line."""
    for line, index, obj in _records(path):
        if isinstance(obj, DataError):
            raise obj
        yield line, index, obj


def _records(path: str | os.PathLike) -> Iterator[tuple[int, int, Any]]:
    """Like `iter_json_records`, but a record that does not read is yielded as its `DataError`
    (a value JSON cannot produce), so the caller decides whether to raise or skip it."""
    path = Path(path)
    if not _is_array(path):
        for index, (n, obj) in enumerate(json_lines(path)):
            yield n, index, obj
        return
    try:
        text = read_text(path)
    except DataError as err:  # not UTF-8: nothing of the array can be read
        yield err.line or 1, 0, err
        return
    yield from _array_records(path, text, len(text) - len(text.lstrip(_WS)))


def _is_array(path: Path) -> bool:
    """Whether the file's first non-blank character is `[` (a JSON array, not JSONL)."""
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False  # json_lines says what is wrong with the file
    return head.removeprefix(codecs.BOM_UTF8).lstrip(_WS.encode()).startswith(b"[")


def _array_records(path: Path, text: str, start: int) -> Iterator[tuple[int, int, Any]]:
    """Elements of a JSON array; after an element that does not parse nothing more can be read
    (one `DataError`).  An element with a lone surrogate is bad on its own, and reading goes on."""
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    def bad(pos: int, reason: str) -> tuple[int, int, Any]:
        return line_of(pos), index, DataError(path, line_of(pos), f"invalid JSON: {reason}")

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
        except RecursionError:
            yield bad(pos, f"record {index} is nested too deeply to read")
            return
        try:
            check_unicode(obj, text[pos:end], path, line_of(pos))
            yield line_of(pos), index, obj
        except DataError as err:
            yield line_of(pos), index, err
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
    """A whole JSON document; one that does not read raises `DataError` naming the line."""
    return parse_json(read_text(path), path)


def convert_each(path: str | os.PathLike, convert: Callable[[Any, int], list[T | ValueError]], *,
                 skip_bad: bool = False, report: SkipReport | None = None) -> Iterator[T]:
    """Run `convert(record, index)` on every record of the file; see the module docstring.

    `convert` may return errors (`ValueError`s) among its outputs: a record that yields several
    items (one per instruction, say) reports a bad part without losing the good ones.  Invalid JSON
    (or bytes that are not UTF-8) in a JSON array cannot be read past: with `skip_bad` it is
    counted and the rest of that file is dropped."""
    for line, index, obj in _records(path):
        try:
            if isinstance(obj, DataError):
                raise obj
            try:
                out = convert(obj, index)
            except KeyError as e:
                raise DataError(path, line, f"record {index}: missing field {e.args[0]!r}") from None
            except (ValueError, TypeError) as e:
                if isinstance(e, DataError):
                    raise
                raise DataError(path, line, f"record {index}: {e}") from None
            except RecursionError:
                raise DataError(path, line, f"record {index}: nested too deeply to read") from None
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


