"""Irrelevance (synthesis v2): a real request offered only tools that cannot serve it -> give up.

The cpu-full trio calls a tool for almost any question (BFCL irrelevance: 4% make no call). The
only give-ups it saw were a dozen templated requests. Here a request of one trajectory is paired
with the tools of another that share no word with the request's own tools' names ("book a hotel"
offered `get_stock_price`, `translate_text`), and the planner gives up, naming what the offered
tools do. The same request keeps its solved trajectory with its own tools, so the pair teaches to
read the tool list rather than to always call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from multiagentllm.tools.world import stable_rng

_WORD = re.compile(r"[a-z]{3,}")
WHY = ["The offered tools ({names}) {does}; none of them can do what this request asks, so I cannot complete it.",
       "None of the available tools fits: {names} {does}. Giving up rather than calling the wrong one.",
       "The request needs a tool I don't have. {names_cap} {does}, which does not help here. I have to stop.",
       "No offered tool covers this request ({names}: {does_short}), so I give up instead of guessing."]


def _words(names: Iterable[str]) -> set[str]:
    return {w for n in names for w in _WORD.findall(n.lower().replace("_", " ").replace(".", " "))}


def _does(tools: list[dict[str, Any]]) -> str:
    name = tools[0]["name"]
    text = (tools[0].get("description") or "").strip().removeprefix(name).lstrip(" :-").rstrip(".")
    text = text[0].lower() + text[1:80] if text else "another task"
    verb = "is" if len(tools) == 1 else "are"
    return f"{verb} for other things, e.g. {name}: {text}"


def irrelevant_give_ups(trajs: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """Up to `n` give-up trajectories: the instruction of one solved trajectory with at most 5
    tools of another, from a different source or tool set, that share no word with its tools."""
    solved = [t for t in trajs if t.get("outcome") == "solved" and t.get("steps") and t.get("tools")
              and any(s.get("action") for s in t["steps"])
              and t.get("meta", {}).get("split") != "test"]  # benchmark items stay out of training
    if len(solved) < 2 or n <= 0:
        return []
    rng = stable_rng(seed, "irrelevant")
    out: list[dict[str, Any]] = []
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        a, b = rng.choice(solved), rng.choice(solved)
        used = {s["action"]["name"] for s in a["steps"] if s.get("action")}
        offered = [t for t in b["tools"] if t["name"] not in used and t["name"] != "ToolSearcher"][:5]
        if not offered or _words(used) & _words(t["name"] for t in offered) \
                or _words(t["name"] for t in a["tools"]) & _words(t["name"] for t in offered):
            continue
        names = ", ".join(t["name"] for t in offered)
        does = _does(offered)
        why = rng.choice(WHY).format(names=names, names_cap=names[0].upper() + names[1:], does=does,
                                     does_short=does.split("e.g. ", 1)[1])
        out.append({"id": f"irrelevant-{seed}-{len(out)}", "instruction": a["instruction"], "tools": offered,
                    "steps": [{"rationale": why, "next": "give_up"}], "answer": None, "outcome": "given_up",
                    "source": a["source"], "meta": {"family": "irrelevant", "recipe": "v2",
                                                    "instruction_from": a["id"], "tools_from": b["id"],
                                                    "facts": [], "tags": ["irrelevant"]}})
    return out
