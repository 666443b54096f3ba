"""JSON and JSONL reading whose every error names file:line, and atomic writes: a file or a whole
folder is replaced only once it is complete, so an interrupted write leaves the old one."""

from __future__ import annotations

import codecs
import contextlib
import glob
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from multiagentllm.types import SchemaError, Trajectory

T = TypeVar("T")


class DataError(ValueError):
    """A bad input record; the message names the file and line (or item) and what is wrong."""

    def __init__(self, path: str | os.PathLike, line: int | str | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass
class SkipReport:
    """Counts of skipped bad records when reading with `skip_bad=True`."""

    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, err: DataError) -> None:
        self.skipped += 1
        if len(self.examples) < 20:
            self.examples.append(str(err))


def skip_or_raise(err: DataError, skip_bad: bool, report: SkipReport | None) -> None:
    """The one policy for a bad record: raise it, or (with `skip_bad`) count it in `report`."""
    if not skip_bad:
        raise err
    if report is not None:
        report.add(err)


# Every way a file can fail to read becomes a `DataError` naming the file and line, so that a
# caller raises it or (with `skip_bad`) skips it like any other bad record: bytes that are not
# UTF-8 (a latin-1 or UTF-16 file), invalid JSON, nesting too deep for the parser, and a lone
# surrogate escape ("\\ud800"), which parses but can never be written out as UTF-8 again.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))  # UTF-32 LE starts like UTF-16 LE
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _open_bytes(path: Path):
    if not path.exists():
        raise DataError(path, None, "file not found")
    if not path.is_file():
        raise DataError(path, None, "not a file")
    try:
        return path.open("rb")
    except OSError as e:
        raise DataError(path, None, f"cannot read: {e.strerror or e}") from None


def _wide_encoding(head: bytes) -> str | None:
    return next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)


def _wide_error(path: Path, encoding: str) -> DataError:
    return DataError(path, 1, f"the file is {encoding} (it starts with a byte-order mark); convert it to UTF-8")


def _not_utf8(path: Path, line: int, raw: bytes, start: int) -> DataError:
    """The error for line `raw` of `path`, whose byte at `start` is not UTF-8."""
    column = len(raw[:start].decode("utf-8", "replace")) + 1
    hint = ("it holds NUL bytes: UTF-16 or UTF-32?" if b"\x00" in raw
            else "latin-1 or another 8-bit encoding?")
    return DataError(path, line, f"not UTF-8: byte 0x{raw[start]:02x} at column {column} ({hint})")


def parse_json(text: str, path: str | os.PathLike, line: int | None = 1) -> Any:
    """`text` as JSON; every way that fails is a `DataError` naming `path` and the line (`line`
    is where `text` starts in the file; None when unknown)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        at = None if line is None else line + e.lineno - 1
        raise DataError(path, at, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise DataError(path, line, "invalid JSON: nested too deeply to read") from None
    check_unicode(obj, text, path, line)
    return obj


def check_unicode(obj: Any, text: str, path: str | os.PathLike, line: int | None) -> None:
    """A lone surrogate escape in `text` (the JSON `obj` was parsed from) is a `DataError`:
    Python accepts it, but no UTF-8 output (a training file, a prompt) can hold it.  Only text
    that has a surrogate escape at all is checked, and a valid pair (an escaped emoji) passes."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        found = _LONE_SURROGATE.search(text)
        if found and line is not None:
            line += text.count("\n", 0, found.start())
        raise DataError(path, line, f"a lone surrogate {e.object[e.start]!r} in a string is not "
                                    "valid Unicode") from None
    except RecursionError:
        raise DataError(path, line, "invalid JSON: nested too deeply to read") from None


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 file (a UTF-8 byte-order mark is dropped); bytes that are not UTF-8 are a
    `DataError` naming the line."""
    path = Path(path)
    with _open_bytes(path) as f:
        data = f.read()
    encoding = _wide_encoding(data[:4])
    if encoding:
        raise _wide_error(path, encoding)
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        first = data.rfind(b"\n", 0, e.start) + 1
        last = data.find(b"\n", e.start)
        raw = data[first:last if last >= 0 else len(data)]
        raise _not_utf8(path, data.count(b"\n", 0, e.start) + 1, raw, e.start - first) from None


def json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line of a JSONL file; a line that does not read
    is yielded as its `DataError` (a value JSON cannot produce), so the caller decides whether to
    raise or skip it and the lines after it still read.  A missing file raises."""
    path = Path(path)
    with _open_bytes(path) as f:
        encoding = _wide_encoding(f.read(4))
        if encoding:
            yield 1, _wide_error(path, encoding)
            return
        f.seek(0)
        for n, raw in enumerate(f, 1):
            if n == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise _not_utf8(path, n, raw, e.start) from None
                yield n, parse_json(text, path, n)
            except DataError as err:
                yield n, err


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object); raise DataError on a line that does not read."""
    for n, obj in json_lines(path):
        if isinstance(obj, DataError):
            raise obj
        yield n, obj


def read_records(path: str | os.PathLike, convert: Callable[[Any], T], *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[T]:
    """Parse every line as JSON and then with `convert`; a bad line becomes a DataError naming
    file:line, raised, or (with `skip_bad`) counted in `report` and skipped."""
    for n, obj in json_lines(path):
        try:
            if isinstance(obj, DataError):
                raise obj
            try:
                record = convert(obj)
            except DataError:
                raise
            except (ValueError, KeyError, TypeError) as e:
                raise DataError(path, n, str(e)) from None
            except RecursionError:
                raise DataError(path, n, "nested too deeply to read") from None
        except DataError as err:
            skip_or_raise(err, skip_bad, report)
            continue
        yield record


def require_records(path: str | os.PathLike, read: int, report: SkipReport, skipped_before: int = 0,
                    what: str = "records") -> None:
    """An input that gave nothing is an error that says why: empty, or every record bad.
    `skipped_before` is `report.skipped` before this input was read."""
    if read:
        return
    skipped = report.skipped - skipped_before
    if not skipped:
        raise DataError(path, None, f"no {what}: the input is empty")
    first = report.examples[skipped_before] if skipped_before < len(report.examples) else ""
    raise DataError(path, None, f"no {what}: all {skipped} were bad" + (f"; the first: {first}" if first else ""))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w"):
    """Write to a temporary file beside `path` and rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a new empty folder beside `path` to write into; on success it is renamed into place
    (the old `path`, if any, renamed aside first and then removed), so `path` holds the old
    contents or the new ones, never a mix.  On failure the new folder is removed; one left by a
    run that was killed is removed by the next (and an old one restored if the kill came between
    the two renames)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(path, None, "exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover_dir(path)
    tag = uuid.uuid4().hex[:12]
    new, old = path.with_name(f".{path.name}.new-{tag}"), path.with_name(f".{path.name}.old-{tag}")
    new.mkdir()  # not mkdtemp: the folder gets the usual permissions, not 0700
    try:
        yield new
        if path.exists():
            os.replace(path, old)
        os.replace(new, path)
    except BaseException:
        if old.exists() and not path.exists():
            os.replace(old, path)
        shutil.rmtree(new, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _recover_dir(path: Path) -> None:
    """Clean up after an `atomic_dir` whose run was killed (see there)."""
    olds = sorted(path.parent.glob(f".{glob.escape(path.name)}.old-*"))
    if olds and not path.exists():
        os.replace(olds.pop(), path)
    for leftover in [*olds, *path.parent.glob(f".{glob.escape(path.name)}.new-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Serialise read-modify-write of a folder's contents between processes: a checkpoint's
    manifest (stages trained side by side with `--stage`, one per terminal), a resume point
    restored by every rank. POSIX `flock` on the folder itself, so no lock file is left behind;
    elsewhere the atomic writes alone still keep the files valid."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Atomically write rows (dicts, or objects with `to_dict`) as JSONL; return the count."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            if hasattr(row, "to_dict"):
                row = row.to_dict()
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def read_trajectories(path: str | os.PathLike, *, skip_bad: bool = False,
                      report: SkipReport | None = None):
    """Read canonical trajectories from JSONL, validating each (errors name file:line)."""
    def convert(obj: Any) -> Trajectory:
        try:
            return Trajectory.from_dict(obj)
        except SchemaError as e:
            raise ValueError(str(e)) from None

    return read_records(path, convert, skip_bad=skip_bad, report=report)
