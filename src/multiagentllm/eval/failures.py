"""Failure analysis: every failed item of a suite run, sorted into one category each.

    umi eval failures results/cpu-full-runtime [--system alpha-umi] [--out FILE] [--data-root DIR]

Reads the per-item records a suite wrote (`<benchmark>-<system>.items.jsonl`) and the report
beside each (`<benchmark>-<system>.json`), and writes `failures.md` and `failures.json` in the run
folder: per benchmark and per group (task family, BFCL category, hub, static test group), how many
failures fall in each category, with two examples each.  The kind of a benchmark is read from its
items' fields, not its name, so a later results folder with new benchmarks of the same kinds is
read the same way.

Categories, and the rules that assign them (the first rule that matches wins):

* `format`: a turn that does not parse: the episode ended on a format error, a caller output had
  no call or invalid JSON (`faults`), a static step's output did not parse;
* `ignored_error`: an identical call repeated after it had failed (`faults.repeated_failing`):
  the error observation did not change the next call.  The items carry no observations, so an
  error that was ignored in any other way is not seen here;
* `repeated_call`: a call identical to an earlier one of the episode (`faults.repeated_calls`, or
  found in `calls` where an item has no fault counts), an episode that ended `stuck`, or more
  calls than the question needs with one function called twice (BFCL);
* `stopped_early`: the episode ended `given_up` or `needs_input` where the task is solvable, made
  fewer calls than the question needs (BFCL), left out a tool the reference calls without calling
  another instead (pass rate with reference calls), or the planner decided to finish where the
  reference calls a tool (static);
* `wrong_tool`: a tool other than the one needed: BFCL's `wrong_func_name`, a call where no
  function fits (`irrelevance`), an extra call to another function; APIBench's `wrong` (another
  API of the database); a call to a tool not offered; with reference calls, a reference tool left
  out and another called; a static call naming another tool than the reference;
* `wrong_argument`: the right tool, wrong or invented arguments: BFCL's value, type and missing
  parameter errors; APIBench's `hallucination` (torch.hub.load of a repository and model that are
  in no API of the database: the function is right, its arguments invent the API); a missing
  required argument; with reference calls, every reference tool called but some reference call
  not made with its arguments; a static call with the reference's tool and an argument F1 below 1;
* `answer_misses_fact`: the calls were right as far as the item shows, but the answer is not:
  it misses a declared fact, states one no observation holds, or states an ungrounded number
  (the episode ended `ungrounded`);
* `other`: none of the above (the reason is kept): e.g. an answer where the reference gives up, an
  episode that ran out of steps with no repeated call, a static planner that kept calling where
  the reference finishes.

Pass-rate items hold the agent's calls, not the reference's: when the report's data file (the
task file the suite ran, resolved against `data_root`) is found, the reference calls and outcome
are read from it by item id; without it, the reference-call rules do not apply, and the report
says so.  tau-bench items carry their reference: the task's gold write actions (`gold_actions`).
They are not the whole episode (the look-ups a careful agent makes before a write are not in
them), so only calls to the retail write tools are held against them: a look-up the gold does
not list is never a wrong tool, a write it does not list is.  Static summarizer steps are scored
by ROUGE-L, with no pass or fail, and are left out.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiagentllm.agent.faults import call_key
from multiagentllm.eval.benchmarks import suite_order
from multiagentllm.io import atomic_open, iter_jsonl, write_json
from multiagentllm.paths import portable, repo_path
from multiagentllm.tools.library.retail import WRITE_TOOLS
from multiagentllm.tools.replay import ANSWER_REASONS

CATEGORIES = ("format", "ignored_error", "repeated_call", "stopped_early", "wrong_tool", "wrong_argument",
              "answer_misses_fact", "other")
LABELS = {"format": "format", "ignored_error": "ignored an error observation", "repeated_call": "repeated call",
          "stopped_early": "stopped early", "wrong_tool": "wrong tool", "wrong_argument": "wrong or invented argument",
          "answer_misses_fact": "answer misses a fact", "other": "other"}
EXAMPLES = 2
# What each kind of item cannot show, said in the report beside its counts.
BLIND = {
    "episode": "no observations in the items: `ignored_error` counts only identical calls repeated after a "
               "failure; a different call after an error observation is not seen",
    "bfcl": "single-turn questions scored on their calls; observations play no part",
    "apibench": "one call scored against the API database; observations play no part",
    "static": "summarizer steps (ROUGE-L, no pass or fail) are left out; each step is scored on the gold history",
}


@dataclass(frozen=True)
class Failure:
    """One failed item's category and the evidence for it, in one line."""

    category: str
    why: str


@dataclass(frozen=True)
class Reference:
    """What the reference trajectory of a pass-rate task did: its calls and how it ended."""

    calls: tuple[tuple[str, str], ...]  # (tool name, call_key)
    outcome: str
    # The tools whose calls the reference lists in full (None: every tool). A call to another one
    # of these is held against the episode; a call to a tool outside them (a look-up the gold
    # actions leave out) is not.
    counted: frozenset[str] | None = None


def gold_reference(item: dict[str, Any]) -> Reference:
    """The reference a tau-bench item carries: its gold write actions, a solved outcome."""
    calls = tuple((c["name"], call_key(c["name"], c.get("arguments") or {})) for c in item["gold_actions"])
    return Reference(calls, "solved", frozenset(WRITE_TOOLS))


def kind_of(item: dict[str, Any]) -> str:
    """Which benchmark kind wrote the item, from its fields."""
    if "turn" in item and "step" in item:
        return "static"
    if "passed" in item:
        return "episode"
    if "error_type" in item and "valid" in item:
        return "bfcl"
    if "hub" in item or ("status" in item and "reference" in item):
        return "apibench"
    raise ValueError(f"an item of no known benchmark kind (fields: {', '.join(sorted(item))})")


def failed(item: dict[str, Any], kind: str) -> bool:
    if kind == "static":
        if item.get("turn") == "planner":
            return item.get("plan_acc") != 1.0
        if item.get("turn") == "caller":
            return item.get("act_em") != 1.0 or item.get("arg_f1") != 1.0
        return False  # summarizer: ROUGE-L, no pass or fail
    if kind == "episode":
        return not item.get("passed")
    if kind == "bfcl":
        return not item.get("valid")
    return item.get("status") != "correct"


def group_of(item: dict[str, Any]) -> str:
    return str(item.get("group") or item.get("category") or item.get("hub") or "all")


def _fault(item: dict[str, Any], name: str) -> int:
    return int((item.get("faults") or {}).get(name) or 0)


def _repeated_calls(item: dict[str, Any]) -> int:
    """The item's repeated calls: its fault count, or (items without faults) counted from `calls`."""
    if "faults" in item:
        return _fault(item, "repeated_calls")
    keys = [call_key(*_name_args(c)) for c in item.get("calls") or []]
    return len(keys) - len(set(keys))


def _name_args(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A call as the items write it: `{"name", "arguments"}` or BFCL's `{name: arguments}`."""
    if "name" in call and "arguments" in call:
        return str(call["name"]), call["arguments"] or {}
    (name, args), = call.items()
    return str(name), args if isinstance(args, dict) else {}


def classify_episode(item: dict[str, Any], reference: Reference | None = None) -> Failure:
    """A failed pass-rate episode (`passed`, `reason`, `status`, `answer`, `calls`, `faults`)."""
    status, reason = item.get("status", ""), item.get("reason", "")
    unparsed = _fault(item, "unparsed") + _fault(item, "invalid_json")
    if status == "format_error" or unparsed:
        return Failure("format", reason if status == "format_error"
                       else f"{unparsed} caller output(s) with no call or invalid JSON; {reason}")
    if _fault(item, "repeated_failing"):
        return Failure("ignored_error", f"{_fault(item, 'repeated_failing')} call(s) repeated after they failed")
    if _repeated_calls(item) or status == "stuck":
        return Failure("repeated_call", f"{_repeated_calls(item)} repeated call(s); ended {status!r}")
    needs = reference.outcome if reference else None
    if status in ("given_up", "needs_input") and (needs == "solved" or "needs 'solved'" in reason):
        return Failure("stopped_early", reason)
    if _fault(item, "not_offered"):
        return Failure("wrong_tool", f"{_fault(item, 'not_offered')} call(s) to a tool not offered")
    if _fault(item, "missing_required"):
        return Failure("wrong_argument", f"{_fault(item, 'missing_required')} call(s) without a required argument")
    if reference is not None and status != "max_steps":
        calls = [_name_args(c) for c in item.get("calls") or []]
        made_names, made_keys = {n for n, _ in calls}, {call_key(n, a) for n, a in calls}
        missing = sorted({n for n, _ in reference.calls} - made_names)
        extra = sorted(n for n in made_names - {n for n, _ in reference.calls}
                       if reference.counted is None or n in reference.counted)
        if missing and extra:
            return Failure("wrong_tool", f"called {', '.join(extra)} instead of {', '.join(missing)}")
        if missing:
            return Failure("stopped_early", f"ended {status!r} without calling {', '.join(missing)}")
        unmatched = [key for _, key in reference.calls if key not in made_keys]
        if unmatched:
            return Failure("wrong_argument", f"reference call not made with its arguments: {unmatched[0]}")
        if extra and reference.counted is not None:
            return Failure("wrong_tool", f"a write the reference does not make: {', '.join(extra)}")
    if status == "ungrounded" or reason.startswith(ANSWER_REASONS):
        return Failure("answer_misses_fact", reason if status != "ungrounded" else "answer states an ungrounded "
                       f"number (ended 'ungrounded'); {reason}")
    return Failure("other", reason or f"ended {status!r}")


def classify_bfcl(item: dict[str, Any]) -> Failure:
    """A failed BFCL item (`calls`, `valid`, `error_type`, `reason`, `end`, `faults`)."""
    error, reason = item.get("error_type", ""), item.get("reason", "")
    if item.get("end") == "format_error" or _fault(item, "unparsed") or _fault(item, "invalid_json"):
        return Failure("format", reason)
    if error in ("wrong_func_name", "irrelevance"):
        return Failure("wrong_tool", reason)
    if error == "wrong_count":
        names = [_name_args(c)[0] for c in item.get("calls") or []]
        expected = _expected_count(reason)
        if expected is not None and len(names) < expected:
            return Failure("stopped_early", reason)
        if len(names) != len(set(names)):
            return Failure("repeated_call", f"{reason}: {', '.join(names)}")
        return Failure("wrong_tool", f"{reason}: an extra call to another function ({', '.join(names)})")
    if error.startswith(("value_error", "type_error", "missing_", "unexpected_param", "wrong_arguments")):
        return Failure("wrong_argument", reason)
    return Failure("other", f"{error}: {reason}".strip(": "))


def _expected_count(reason: str) -> int | None:
    """N from BFCL's 'expected N call(s), got M'."""
    head, _, _ = reason.partition(" call(s)")
    word = head.rsplit(" ", 1)[-1]
    return int(word) if word.isdigit() else None


def classify_apibench(item: dict[str, Any]) -> Failure:
    """A failed APIBench item (`status`: wrong, hallucination or no_answer; `reason`, `end`)."""
    status, reason = item.get("status", ""), item.get("reason", "")
    if item.get("end") == "format_error" or _fault(item, "unparsed") or _fault(item, "invalid_json"):
        return Failure("format", reason)
    if status == "hallucination":
        return Failure("wrong_argument", f"{reason}: {str(item.get('answer'))[:100]}")
    if status == "wrong":
        return Failure("wrong_tool", f"{reason}: {str(item.get('answer'))[:100]}")
    if status == "no_answer":
        return Failure("stopped_early", reason)
    return Failure("other", f"{status}: {reason}")


def classify_static(item: dict[str, Any]) -> Failure:
    """A failed static step (`turn`, `predicted`, `reference`, `plan_acc` or `act_em`/`hallu`/`arg_f1`)."""
    if "reason" in item:
        return Failure("format", item["reason"])
    predicted, reference = item.get("predicted"), item.get("reference")
    if item.get("turn") == "planner":
        if reference == "caller":
            return Failure("stopped_early", f"decided {predicted!r} where the reference calls a tool")
        return Failure("other", f"decided {predicted!r} where the reference decides {reference!r}")
    if item.get("hallu") or (predicted or {}).get("name") != (reference or {}).get("name"):
        return Failure("wrong_tool", f"called {(predicted or {}).get('name')!r}, the reference "
                                     f"{(reference or {}).get('name')!r}")
    return Failure("wrong_argument", f"argument F1 {item.get('arg_f1', 0):.2f}: {json.dumps((predicted or {}).get('arguments'))[:100]}")


CLASSIFY = {"static": classify_static, "bfcl": classify_bfcl, "apibench": classify_apibench}


def classify(item: dict[str, Any], kind: str, reference: Reference | None = None) -> Failure:
    return classify_episode(item, reference) if kind == "episode" else CLASSIFY[kind](item)


def load_references(path: str | os.PathLike, ids: set[str]) -> dict[str, Reference]:
    """The reference calls and outcome of the trajectories `ids` in a canonical JSONL file."""
    refs = {}
    for _, row in iter_jsonl(path):
        if isinstance(row, dict) and row.get("id") in ids:
            calls = tuple((a["name"], call_key(a["name"], a.get("arguments") or {}))
                          for s in row.get("steps") or [] if (a := s.get("action")))
            refs[row["id"]] = Reference(calls, str(row.get("outcome") or "solved"))
    return refs


def _reference_file(report: dict[str, Any], data_root: Path) -> Path | None:
    """The task file a pass-rate report ran (`data`, relative to the checkout), if it is there."""
    data = report.get("data") or []
    if len(data) != 1:
        return None
    path = data_root / data[0]  # an absolute path stays itself
    expected = [d.get("size") for d in (report.get("settings") or {}).get("data") or [] if isinstance(d, dict)]
    if not path.is_file() or (expected and expected[0] is not None and path.stat().st_size != expected[0]):
        return None  # absent, or not the file the run read
    return path


def analyse_items(items: list[dict[str, Any]], references: dict[str, Reference] | None = None) -> dict[str, Any]:
    """One benchmark's items: counts per category and group, two examples per category."""
    kind = kind_of(items[0]) if items else "episode"
    out: dict[str, Any] = {"kind": kind, "items": len(items), "failed": 0,
                           "categories": {c: {"count": 0, "groups": {}, "examples": []} for c in CATEGORIES}}
    groups: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        if not failed(item, kind):
            continue
        ref = (references or {}).get(item.get("id"))
        f = classify(item, kind, ref)
        out["failed"] += 1
        cat = out["categories"][f.category]
        cat["count"] += 1
        groups[f.category][group_of(item)] += 1
        if len(cat["examples"]) < EXAMPLES:
            where = f"{item.get('id')}" + (f"@{item['step']} {item['turn']}" if kind == "static" else "")
            cat["examples"].append({"id": where, "group": group_of(item), "why": f.why,
                                    **({"answer": item["answer"]} if item.get("answer") else {})})
    for c, counts in groups.items():
        out["categories"][c]["groups"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def analyse(results: str | os.PathLike, system: str = "alpha-umi",
            data_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Every benchmark of a run folder that `system` ran: see the module doc."""
    results, root = Path(results), Path(data_root) if data_root else repo_path()
    suffix = f"-{system}.items.jsonl"
    files = sorted(results.glob(f"*{suffix}"), key=lambda p: suite_order(p.name[: -len(suffix)]))
    if not files:
        raise FileNotFoundError(f"{results}: no <benchmark>{suffix} files")
    benchmarks = {}
    for path in files:
        name = path.name[: -len(suffix)]
        items = [row for _, row in iter_jsonl(path)]
        report_path = results / f"{name}-{system}.json"
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
        refs, ref_file = None, None
        if items and kind_of(items[0]) == "episode" and all("gold_actions" in i for i in items):
            refs = {str(i.get("id")): gold_reference(i) for i in items if not i.get("passed")}
        elif items and kind_of(items[0]) == "episode":
            ref_file = _reference_file(report, root)
            if ref_file is not None:
                refs = load_references(ref_file, {str(i.get("id")) for i in items if not i.get("passed")})
        result = analyse_items(items, refs)
        result["blind"] = BLIND[result["kind"]]
        if result["kind"] == "episode":
            # the task file, as the report names it, or the items' own field
            result["references"] = report["data"][0] if ref_file else "gold_actions" if refs is not None else None
            result["references_found"] = len(refs or {})
        benchmarks[name] = result
    return {"results": portable(results), "system": system, "categories": list(CATEGORIES),
            "benchmarks": benchmarks}


def markdown(analysis: dict[str, Any]) -> str:
    """The analysis as a report: a summary table, then per benchmark the groups and examples."""
    lines = [f"# Failures: {analysis['results']} ({analysis['system']})", "",
             "Every failed item, sorted into one category by the rules of `multiagentllm.eval.failures` "
             "(the first rule that matches wins). Written by "
             f"`umi eval failures {analysis['results']} --system {analysis['system']}`.", "",
             "| benchmark | items | failed | " + " | ".join(LABELS[c] for c in CATEGORIES) + " |",
             "|---|---:|---:|" + "---:|" * len(CATEGORIES)]
    for name, b in analysis["benchmarks"].items():
        lines.append(f"| {name} | {b['items']} | {b['failed']} | "
                     + " | ".join(str(b["categories"][c]["count"]) for c in CATEGORIES) + " |")
    for name, b in analysis["benchmarks"].items():
        lines += ["", f"## {name}", "", f"{b['failed']} of {b['items']} items failed. Not seen: {b['blind']}."]
        if b["kind"] == "episode":
            lines.append(f"Reference calls: {b['references_found']} failed tasks read from {_source(b['references'])}."
                         if b.get("references") else "Reference calls: the task file is not here, so the "
                         "reference-call rules (wrong tool, stopped early, wrong argument) use fault counts only.")
        lines += ["", "| category | failed | by group |", "|---|---:|---|"]
        for c in CATEGORIES:
            cat = b["categories"][c]
            if cat["count"]:
                lines.append(f"| {LABELS[c]} | {cat['count']} | "
                             + ", ".join(f"{g} {n}" for g, n in cat["groups"].items()) + " |")
        lines += ["", "Examples:", ""]
        for c in CATEGORIES:
            for ex in b["categories"][c]["examples"]:
                answer = f" Answer: \"{_short(ex['answer'])}\"" if ex.get("answer") else ""
                lines.append(f"- {LABELS[c]}: `{ex['id']}` ({ex['group']}): {_short(ex['why'])}.{answer}")
    return "\n".join(lines) + "\n"


def _source(references: str) -> str:
    return "the items' gold write actions" if references == "gold_actions" else f"`{references}`"


def _short(text: str, width: int = 200) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def write(analysis: dict[str, Any], out: str | os.PathLike) -> dict[str, Path]:
    """`<out>.md` and `<out>.json`; return their paths."""
    out = Path(out)
    paths = {"markdown": out.with_suffix(".md"), "json": out.with_suffix(".json")}
    with atomic_open(paths["markdown"]) as f:
        f.write(markdown(analysis))
    write_json(paths["json"], analysis)
    return paths
