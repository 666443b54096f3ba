"""The step-level metrics of the alpha-UMi paper, as pure functions.

* **Plan ACC**  -- the planner's next decision (caller / summarizer / give up) equals the
  reference decision.
* **Act. EM**   -- the caller's tool name equals the reference tool name.
* **Hallu**     -- the caller names a tool that is not in the offered tool list.
* **Arg. F1**   -- F1 over argument key-value pairs against the reference call.
* **R-L**       -- ROUGE-L F-measure of the final answer against the reference answer.

A prediction that did not parse is passed as `None` and scores 0 (it is never a hallucination:
no tool was named).  Every rate is a fraction in [0, 1]; an empty population gives `None`
("not measured"), never a made-up 0 or 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import cache
from typing import Any

from multiagentllm.types import ToolCall


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def plan_correct(predicted: str | None, reference: str) -> float:
    return float(predicted is not None and predicted == reference)


def action_em(predicted: ToolCall | None, reference: ToolCall) -> float:
    return float(predicted is not None and predicted.name.strip() == reference.name.strip())


def hallucinated(predicted: ToolCall | None, offered: Iterable[str]) -> float:
    return float(predicted is not None and predicted.name.strip() not in set(offered))


def normalize_value(value: Any) -> Any:
    """A comparable form of an argument value.

    Numbers compare by value (1 == 1.0), and a string that holds a plain number equals that
    number ("1" == 1): tool arguments reach APIs as text, and small models quote numbers freely.
    Booleans stay distinct from numbers (True != 1).  Strings are compared after trimming;
    lists and objects element by element."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):  # tagged, so that True never equals 1 (they hash alike in Python)
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", float(value)) if math.isfinite(value) else ("str", str(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return ("str", text)
        return ("num", number) if math.isfinite(number) else ("str", text)
    if isinstance(value, (list, tuple)):
        return ("list", tuple(normalize_value(v) for v in value))
    if isinstance(value, dict):
        return ("obj", tuple(sorted((str(k), normalize_value(v)) for k, v in value.items())))
    return ("str", json.dumps(value, sort_keys=True, default=str))


def _pairs(arguments: dict[str, Any]) -> set[tuple[str, Any]]:
    return {(str(k).strip(), normalize_value(v)) for k, v in arguments.items()}


def argument_f1(predicted: dict[str, Any] | None, reference: dict[str, Any]) -> float:
    """F1 over (key, value) pairs; key order never matters.  Two empty argument sets agree
    perfectly (1.0); an unparsed prediction scores 0."""
    if predicted is None:
        return 0.0
    pred, gold = _pairs(predicted), _pairs(reference)
    if not pred and not gold:
        return 1.0
    hits = len(pred & gold)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(pred), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


@cache
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(predicted: str | None, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score's tokenizer: lower-cased alphanumeric tokens); no
    answer, or an answer with no tokens, scores 0."""
    if not predicted or not predicted.strip():
        return 0.0
    return float(_scorer().score(reference, predicted)["rougeL"].fmeasure)
