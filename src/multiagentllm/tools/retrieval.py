"""Tool retrieval: when a request comes with more tools than the models were trained to read,
offer them only the `k` most relevant ones, always keeping the tools the episode already used.

    from multiagentllm.tools.retrieval import DEFAULT_K, retrieve
    tools = retrieve(registry.schemas(), "Book me a flight to Paris next Tuesday", DEFAULT_K)

Scoring is BM25 from the maintained `bm25s` package (numpy backend: no scipy, numba or PyStemmer
needed).  Each tool is one document: its name split into words (snake_case, camelCase, dots),
its description, and its parameters' names and descriptions.  Text is lower-cased, split into
words, English stopwords (bm25s's list) removed and plurals folded ("flights" -> "flight"); a
full stemmer would need PyStemmer, and plural folding covers what tool texts mostly differ by.

The selection is returned in the tools' ORIGINAL order, because prompts list tools in registry
order and the models were trained on that order.

Some requests share no word with the tool they need, because they ask for a computed value: a
date ("next Tuesday"), a number ("17 times 23"), an amount of money ("100 US dollars").  Such a
request is searched with a few words added (`EXPANSIONS`), so BM25 finds the tools whose
descriptions use them ("relative date", "arithmetic expression", "currency") -- found by their
text, never by a tool's name.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index it builds at DEBUG

# The prompt size the models were trained on: tools offered per trajectory in the training split
# out/data/trajectories/train.jsonl (19,503 trajectories, measured 2026-12-04): p50 3, p90 5,
# p95 5, p99 6, max 10 (the synthetic trajectories, 86% of it, offer 4-5, at most 7).
DEFAULT_K = 5
RELATIVE = 0.3  # a tool scoring under this share of the best score is not offered (see `select`)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*\w|[A-Za-z_]")
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
_RELATIVE_DATE = re.compile(
    rf"\b(?:today|tonight|tomorrow|yesterday|{_WEEKDAY}"
    rf"|(?:next|this|last|coming)\s+(?:{_WEEKDAY}|week|weekend|month|year)"
    r"|in\s+(?:\d+|a|an|one|two|three|four|five|six|seven|ten)\s+(?:day|week|month)s?"
    r"|(?:\d+|a|one|two|three)\s+(?:day|week)s?\s+(?:ago|from\s+now))\b", re.IGNORECASE)
_ARITHMETIC = re.compile(
    r"\d\s*(?:[-+*/x^%]|times|plus|minus|divided by|multiplied by|over|to the power of)\s*\(?-?\d"
    r"|\b(?:square root|cube root|sum of|product of|factorial|squared|cubed)\b", re.IGNORECASE)
_MONEY = re.compile(
    r"\b(?:dollars?|euros?|pounds sterling|yen|yuan|rupees?|francs?|pesos?|usd|eur|gbp|jpy|cny|inr|chf|cad|aud)\b"
    r"|[$€£¥]", re.IGNORECASE)
# Requests whose words need not occur in the text of the tool they need, because what they ask
# for is a computed value: a date ("next Tuesday"), a number ("17 times 23"), an amount of money.
# A matching request is searched with the words added, so BM25 finds the tools whose descriptions
# use them (found by their text, never by a tool's name).
EXPANSIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_RELATIVE_DATE, "relative date"),
    (_ARITHMETIC, "arithmetic expression"),
    (_MONEY, "currency"),
)
_CACHE_SIZE = 8


_STOPWORDS = frozenset(STOPWORDS_EN)


def _fold_plural(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased words of `text` (camelCase, snake_case and dotted names split), without
    English stopwords, plurals folded."""
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    return [_fold_plural(w) for w in words if w not in _STOPWORDS]


def tool_document(schema: dict[str, Any]) -> str:
    """The text a tool is found by: name, description, parameter names and descriptions."""
    parts = [schema["name"], schema.get("description") or ""]
    props = (schema.get("parameters") or {}).get("properties") or {}
    for name, prop in props.items():
        parts.append(name)
        if isinstance(prop, dict) and isinstance(prop.get("description"), str):
            parts.append(prop["description"])
    return " ".join(parts)


_TIMES = re.compile(r"(\d)\s*(?:times|x)\s*(?=\(?-?\d)", re.IGNORECASE)


def expand_query(query: str) -> str:
    """`query` with the words of every `EXPANSIONS` entry whose pattern it matches ("17 times
    23" is read as a product, not as a matter of time)."""
    extra = [words for pattern, words in EXPANSIONS if pattern.search(query)]
    return " ".join([_TIMES.sub(r"\1 multiplied by ", query), *extra])


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    """The tools' names; raises ValueError for a tool without a name or a repeated name."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(tools):
        name = t.get("name") if isinstance(t, dict) else None
        if not isinstance(name, str):
            raise ValueError(f"tools[{i}] has no string 'name'")
        if name in seen:
            raise ValueError(f"duplicate tool name {name!r} (tools[{seen[name]}] and tools[{i}])")
        seen[name] = i
        names.append(name)
    return names


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return k


class ToolRetriever:
    """A BM25 index over a fixed list of tool schemas."""

    def __init__(self, tools: list[dict[str, Any]]):
        self.tools = list(tools)
        self.names = tool_names(self.tools)
        self.position = {name: i for i, name in enumerate(self.names)}
        # Tools named in another's description are its prerequisites: "Book one seat on a
        # flight found by search_flights" needs search_flights offered with it.
        self.needs = [sorted({self.position[w] for w in _IDENTIFIER.findall(t.get("description") or "")
                              if w in self.position and w != t["name"]}) for t in self.tools]
        self._bm25 = bm25s.BM25()
        if self.tools:
            self._bm25.index([tokenize(tool_document(t)) for t in self.tools], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every tool for `query` (zeros when no query word is in any tool)."""
        known = [w for w in tokenize(expand_query(query)) if w in self._bm25.vocab_dict] if self.tools else []
        if not known:
            return np.zeros(len(self.tools), dtype=np.float32)
        return self._bm25.get_scores(known)

    def select(self, query: str, k: int, keep: Iterable[str] = ()) -> list[str]:
        """Names of at most max(k, len(keep)) tools, in the original order: every known name in
        `keep`, then the best BM25 scores up to k, ties by original order. Tools scoring under
        `RELATIVE` times the best score are not offered (a barely related tool only distracts a
        small model: "17 times 23" shares "time" with the clock tools), unless no tool shares a
        word with the query: then the first k are (so an empty query gives the first k tools)."""
        k = _check_k(k)
        if len(self.tools) <= k:
            return list(self.names)
        picked = {self.position[n] for n in keep if n in self.position}
        scores = self.scores(query)
        ranked = np.argsort(-scores, kind="stable")  # stable: ties by original order
        floor = RELATIVE * float(scores.max()) if (scores > 0).any() else None
        for i in ranked.tolist():
            if len(picked) >= k or (floor is not None and scores[i] < max(floor, 1e-9)):
                break
            for j in [i, *self.needs[i]]:  # a tool, then the tools its description says it needs
                if len(picked) < k or j == i:
                    picked.add(j)
        return [self.names[i] for i in sorted(picked)]


_cache: OrderedDict[tuple[str, ...], ToolRetriever] = OrderedDict()
_cache_lock = threading.Lock()


def retriever_for(tools: list[dict[str, Any]]) -> ToolRetriever:
    """A `ToolRetriever` for `tools`, reused across calls: the last few indexes are kept,
    keyed by the tuple of tool names (and rebuilt if the same names come with other schemas)."""
    key = tuple(t.get("name") if isinstance(t, dict) else None for t in tools)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit.tools == tools:
            _cache.move_to_end(key)
            return hit
    built = ToolRetriever(tools)
    with _cache_lock:
        _cache[key] = built
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def retrieve(tools: list[dict[str, Any]], query: str, k: int | None,
             keep: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The schemas of the tools `ToolRetriever.select` picks, in their original order.

    `k` None or <= 0 means no retrieval: every tool is returned."""
    if k is None or (isinstance(k, int) and not isinstance(k, bool) and k <= 0):
        return list(tools)
    k = _check_k(k)
    if len(tool_names(tools)) <= k:
        return list(tools)
    r = retriever_for(tools)
    return [r.tools[r.position[name]] for name in r.select(query, k, keep)]
