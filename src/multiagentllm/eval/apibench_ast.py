"""Gorilla's APIBench AST sub-tree match, reimplemented on a tolerant call scanner.

Gorilla's protocol (its `eval-scripts/ast_eval_{th,hf,tf}.py`): every API of the hub's database
is a call `name(args)`.  An answer *matches* an API when some call in the answer has the same
function name and every reference argument value of the API appears in that call's text.  The
first API of the database (in file order) that matches is the one the answer names:

* no API matches                         -> **hallucination** (an API that does not exist);
* the matched API's `domain` equals the question's domain -> **correct**;
* otherwise                              -> **wrong**.

Which arguments identify an API differs by hub, as in Gorilla: torchhub uses the values of
`repo_or_dir` and of any `model...` keyword; huggingface uses every argument's value;
tensorflowhub uses `model=` values, positional values, and other keywords as `key=value` text.
An API whose call has no identifying argument cannot be matched (Gorilla skips it too).

Departures, all in the answer's favour only where Gorilla's behaviour is an accident: values are
compared without their surrounding quotes of either kind (Gorilla strips single quotes only);
any call in the answer with the API's name may carry the arguments (Gorilla looks at the first,
and when none has the name it falls through to the last sub-tree it visited); a command-line
reference (`mlagents-load-from-hf --repo-id=...`) is matched the same way, with the program as
its name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from multiagentllm.tools.call_syntax import CallExpr, calls_in, parse_command, reference_calls

CORRECT, WRONG, HALLUCINATION, NO_ANSWER = "correct", "wrong", "hallucination", "no_answer"


@dataclass(frozen=True)
class Verdict:
    status: str  # correct | wrong | hallucination | no_answer
    matched: int | None = None  # index of the matched API in the database
    reason: str = ""


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text.strip("'\"")


def identifying_args(call: CallExpr, hub: str) -> list[str]:
    """The argument texts that must appear in an answer for it to name this API."""
    out = []
    for key, value in call.args:
        if hub == "torchhub":
            if key is not None and (key == "repo_or_dir" or "model" in key):
                out.append(_unquote(value))
        elif hub == "tensorflowhub":
            if key is None or key == "model":
                out.append(_unquote(value))
            else:
                out.append(_unquote(f"{key}={value}"))
        else:
            out.append(_unquote(value))
    return [v for v in out if v]


@dataclass(frozen=True)
class _Api:
    index: int
    name: str
    domain: Any
    args: tuple[str, ...]


class ApiDatabase:
    """A hub's API documentation entries, indexed by function name for matching."""

    def __init__(self, entries: list[dict[str, Any]], hub: str):
        self.entries, self.hub = entries, hub
        self._by_name: dict[str, list[_Api]] = defaultdict(list)
        for i, entry in enumerate(entries):
            calls = reference_calls(entry["api_call"])
            if calls:
                args = tuple(identifying_args(calls[0], hub))
                self._by_name[calls[0].name].append(_Api(i, calls[0].name, entry.get("domain"), args))

    def matches(self, code: str) -> list[int]:
        """Indices of the most specific APIs that `code` names (see the module docstring)."""
        candidates = calls_in(code)
        command = parse_command(code)
        if command is not None:
            candidates.append(command)
        texts: dict[str, list[str]] = defaultdict(list)
        for call in candidates:
            texts[call.name].append(call.text)
        found = [api for name in texts for api in self._by_name.get(name, ())
                 if any(all(arg in text for arg in api.args) for text in texts[name])]
        if not found:
            return []
        best = max(_specificity(api) for api in found)
        return sorted(api.index for api in found if _specificity(api) == best)


def _specificity(api: _Api) -> int:
    return sum(len(arg) for arg in api.args)


def extract_code(text: str) -> str:
    """The API call of a free-text answer: the `api_call` field when the answer is written in
    Gorilla's output format (`<<<api_call>>>: ...`, `'api_call': ...`), else the whole text."""
    m = re.search(r"api_call\W*?[:=]\s*", text)
    if not m:
        return text.strip()
    rest = text[m.end():]
    end = re.search(r"[,\s'\"]*(<<<)?\s*'?api_provider", rest)
    return (rest[: end.start()] if end else rest).strip(" \t\n\"'`,")


def judge(code: str | None, database: ApiDatabase, domain: Any) -> Verdict:
    """Gorilla's verdict for one answer to a question of the given (reference) domain."""
    if code is None or not code.strip():
        return Verdict(NO_ANSWER, reason="no API call in the answer")
    found = database.matches(code)
    if not found:
        return Verdict(HALLUCINATION, reason="the call names no API of the database")
    for index in found:
        if database.entries[index].get("domain") == domain:
            return Verdict(CORRECT, index)
    domains = sorted({str(database.entries[i].get("domain")) for i in found})
    return Verdict(WRONG, found[0], reason=f"the named API has domain {', '.join(domains)}; expected {domain!r}")
