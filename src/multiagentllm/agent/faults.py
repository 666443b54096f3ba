"""What went wrong in the form of the calls, counted the same way in every benchmark.

Per caller output, at most one fault, the first of:

* `unparsed`: no `Action:` / `Action Input:` pair at all;
* `invalid_json`: the Action Input is not a JSON object (a Python `True`, a cut-off string);
* `not_offered`: the call names a tool the prompt did not offer;
* `missing_required`: a required argument of that tool is missing.

Per episode: `repeated_calls` (a call identical, tool and arguments, to an earlier one of the
episode, whether the loop guard refused it or it ran), `repeated_failing` (the earlier one
failed), and the episode ends `stuck` or `ungrounded` (see `agent.loop`). With constraints on,
the first four cannot happen; the benchmarks report them so that this is checked, not assumed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from multiagentllm.roles import FormatError, caller

CALL_FAULTS = ("unparsed", "invalid_json", "not_offered", "missing_required")
EPISODE_FAULTS = ("repeated_calls", "repeated_failing", "stuck", "ungrounded")
FAULTS = ("caller_outputs", *CALL_FAULTS, *EPISODE_FAULTS)


def call_fault(output: str, tools: list[dict[str, Any]]) -> str | None:
    """The fault of one caller output offered `tools`, or None when it is a well-formed call."""
    try:
        call = caller.parse(output)
    except FormatError as e:
        return "invalid_json" if ("not valid JSON" in str(e) or "must be a JSON object" in str(e)) else "unparsed"
    offered = {t["name"]: t for t in tools}
    if call.name not in offered:
        return "not_offered"
    required = (offered[call.name].get("parameters") or {}).get("required") or []
    if any(r not in call.arguments for r in required):
        return "missing_required"
    return None


def count_calls(outputs: Iterable[str], tools: list[dict[str, Any]]) -> Counter:
    counts: Counter = Counter()
    for out in outputs:
        counts["caller_outputs"] += 1
        fault = call_fault(out, tools)
        if fault:
            counts[fault] += 1
    return counts


def call_key(name: str, arguments: dict[str, Any]) -> str:
    """What makes two calls the same call: the tool and its arguments, in any key order."""
    return f"{name} {json.dumps(arguments, sort_keys=True, ensure_ascii=False)}"


def repeats(calls: Iterable[tuple[str, dict[str, Any], bool]]) -> Counter:
    """`calls`: (name, arguments, ok) in order; counts the repeats of earlier calls."""
    seen: dict[str, bool] = {}
    counts: Counter = Counter()
    for name, arguments, ok in calls:
        key = call_key(name, arguments)
        if key in seen:
            counts["repeated_calls"] += 1
            counts["repeated_failing"] += not seen[key]
        seen[key] = seen.get(key, True) and ok
    return counts


def total(counters: Iterable[Counter | dict[str, int]]) -> dict[str, int]:
    """The sum of per-item counts, with every fault named (0 when none)."""
    out = Counter()
    for c in counters:
        out.update(c)
    return {k: int(out.get(k, 0)) for k in FAULTS}
