"""JSONL reading with file:line errors, and atomic writes (an interrupted write leaves no partial file)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object); raise DataError on a line that is not JSON."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "file not found")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, n, f"invalid JSON: {e.msg} (column {e.colno})") from None


def read_records(path: str | os.PathLike, convert: Callable[[Any], T], *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[T]:
    """Parse every line as JSON and then with `convert`; a bad line becomes a DataError naming
    file:line, raised, or (with `skip_bad`) counted in `report` and skipped."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "file not found")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(path, n, f"invalid JSON: {e.msg} (column {e.colno})") from None
                try:
                    record = convert(obj)
                except DataError:
                    raise
                except (ValueError, KeyError, TypeError) as e:
                    raise DataError(path, n, str(e)) from None
            except DataError as err:
                skip_or_raise(err, skip_bad, report)
                continue
            yield record


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
    from multiagentllm.types import SchemaError, Trajectory

    def convert(obj: Any) -> Trajectory:
        try:
            return Trajectory.from_dict(obj)
        except SchemaError as e:
            raise ValueError(str(e)) from None

    return read_records(path, convert, skip_bad=skip_bad, report=report)
