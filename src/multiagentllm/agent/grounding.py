"""Answer grounding: the values a final answer states must come from the request or a tool.

A small summarizer fills an answer with plausible values: "Confirmation code: CR-2024-06-05"
when no tool returned one, a booking reference after a booking that failed. Such an answer is
worse than none, so the runtime checks every value that could be made up:

* codes and ids: tokens with both letters and digits (`UA1234`, `H-CDG-2`, `PNR7QX2`), matched
  case-insensitively against the evidence;
* numbers, normalised as the fact check of synthesis and evaluation does (`tools.replay.numbers`:
  `15,500` == `15500.0`; dates and times split into their parts, so a date of the wrong year is
  caught), except small whole numbers (0-12: counts and months the answer may say in passing,
  "2 flights", "1 seat").

`ungrounded_values` returns the values not found, in order of appearance; an empty list means
the answer is grounded. `unbacked_claims` catches an answer that says an action happened
("booked", "cancelled", "scheduled") when no tool that does it succeeded in the episode.

Calls are checked too, before they run: `invented_arguments` returns the identity arguments of a
call (a passenger or guest name, an email, an id or reference) whose value is in neither the
request nor an observation. A small caller asked to book with no passenger named writes one
anyway ("John Doe"); the runtime asks the user instead of booking for someone invented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from multiagentllm.tools.replay import number_tokens, numbers

_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]*[A-Za-z0-9](?![\w-])")
SMALL = 12  # whole numbers up to this are not checked


def _small(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return number.is_integer() and 0 <= number <= SMALL


def ungrounded_values(answer: str, evidence: Iterable[str]) -> list[str]:
    """Codes, ids and numbers in `answer` that no text of `evidence` holds."""
    text = "\n".join(e for e in evidence if e)
    lower = text.lower()
    known = numbers(text)
    found: list[str] = []
    codes = _CODE.findall(answer)
    for code in codes:
        if code.lower() not in lower and not _ordinal(code) and code not in found:
            found.append(code)
    rest = _CODE.sub(" ", answer)  # numbers inside codes were checked with their code
    for token in number_tokens(rest):
        value = numbers(token)
        if value and not value <= known and not all(_small(v) for v in value) and token not in found:
            found.append(token.rstrip(",."))
    return found


def _ordinal(token: str) -> bool:
    """"1st", "22nd", "3rd", "4th": a day of a date, not a code."""
    return re.fullmatch(r"\d{1,2}(st|nd|rd|th)", token, re.I) is not None


# A claim in an answer -> a word of the name of a tool that must have succeeded.
_BOOK, _CANCEL, _CREATE, _ORDER = ("book", "reserve"), ("cancel",), ("create", "add", "schedule"), ("order", "purchase", "buy")
_CLAIMS = {
    "booked": _BOOK, "reserved": _BOOK, "booking reference": _BOOK, "confirmation code": _BOOK,
    "confirmation number": _BOOK, "pnr": _BOOK, "cancelled": _CANCEL, "canceled": _CANCEL,
    "scheduled": _CREATE, "added to your calendar": _CREATE, "ordered": _ORDER, "purchased": _ORDER,
}
# An action a request asks for -> a word of the name of a tool that does it.
_ACTIONS = {"book": _BOOK, "reserve": _BOOK, "cancel": _CANCEL, "schedule": _CREATE, "order": _ORDER,
            "buy": _ORDER, "purchase": _ORDER}


def _words(name: str) -> set[str]:
    """`book_flight` / `bookFlight` / `travel.book` -> {"book", "flight"} / ... / {"travel", "book"}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)}


def _does(names: Iterable[str], stems: tuple[str, ...]) -> bool:
    return any(_words(n) & set(stems) for n in names)
_NEGATED = re.compile(r"\b(not|n't|no|never|unable|cannot|can't|couldn't|could not|wasn't|failed)\b[^.;!?]{0,40}$",
                      re.I)


def unbacked_claims(answer: str, succeeded: Iterable[str]) -> list[str]:
    """Actions `answer` says were done (not negated) that no tool in `succeeded` (names of tools
    whose calls succeeded) does."""
    names = list(succeeded)
    found = []
    for claim, stems in _CLAIMS.items():
        for m in re.finditer(rf"\b{claim}\b", answer, re.I):
            if _NEGATED.search(answer[: m.start()]):
                continue
            if not _does(names, stems) and claim not in found:
                found.append(claim)
    return found


def pending_actions(request: str, offered: Iterable[str], succeeded: Iterable[str]) -> list[str]:
    """Actions `request` asks for ("book", "cancel", ...) that an offered tool does but no call of
    such a tool has succeeded yet: the planner may not answer while one is pending (it can still
    call a tool, or give up)."""
    offered, succeeded = list(offered), list(succeeded)
    out = []
    for verb, stems in _ACTIONS.items():
        for m in re.finditer(rf"\b{verb}\b", request, re.I):
            if _NEGATED.search(request[: m.start()]):
                continue
            if _does(offered, stems) and not _does(succeeded, stems) and verb not in out:
                out.append(verb)
    return out


# Argument names that hold who or what exactly: such a value must come from the user or a tool.
IDENTITY = re.compile(r"(^|_)(passenger|guest|traveller|traveler|person|name|email|phone|user|account|"
                      r"reference|pnr|id)($|_)", re.I)


def invented_arguments(arguments: dict, schema: dict, evidence: Iterable[str]) -> list[str]:
    """Names of the identity arguments (see `IDENTITY`) whose string value no evidence holds."""
    text = "\n".join(e for e in evidence if e).lower()
    props = (schema.get("parameters") or {}).get("properties") or {}
    return [name for name, value in arguments.items()
            if name in props and IDENTITY.search(name) and isinstance(value, str) and value.strip()
            and value.strip().lower() not in text]
