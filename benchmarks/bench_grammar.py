"""Structured-generation libraries for the caller and planner formats, measured side by side on this
CPU: llguidance against xgrammar (two of the backends vLLM ships), with the SmolLM2 tokenizer.

    .venv/bin/python benchmarks/bench_grammar.py [--repeats 5] [--cold-runs 3] [--threads 2]

xgrammar is not a project dependency (on Linux x86_64 it pulls triton); to measure both, run this
file with a separate venv that has both libraries and the project:

    python3 -m venv /tmp/xgr && /tmp/xgr/bin/pip install torch==2.13.0 transformers==5.24.0 \\
        xgrammar==0.2.9 llguidance==1.9.1 jsonschema==4.26.0 && /tmp/xgr/bin/pip install --no-deps -e .
    /tmp/xgr/bin/python benchmarks/bench_grammar.py

A library that is not importable is skipped with a note. Grammars:

* caller  - the union over the 30 built-in tools of `Action: <name>\\nAction Input: ` followed by
            one-line JSON valid against the tool's parameters (additionalProperties false,
            separators ", " and ": ", no free whitespace: what `roles.render.call_text` writes);
* planner - `Rationale: <text without newline>\\nNext: ` then `Caller`, `Summarizer` or `Give up`.

Measured for each library: compile time (and compile plus the first mask: llguidance builds its
lexer lazily, xgrammar precomputes masks unless `enable_dynamic_compilation`, shown as a third
column); per-token time to compute the full next-token mask over real outputs rendered by
`roles.render` (first pass after compile, and warm); the cost of checking one token (the argmax)
without and with committing it; the installed size of the library plus the dependencies the
project does not already need; and, in fresh processes, the time from importing the library to the
first mask (after torch, transformers and the tokenizer, which the CLI loads anyway). The repeat
loop is outermost so machine noise hits all columns alike; the load average is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from multiagentllm.roles.render import call_text, plan_text
from multiagentllm.types import ToolCall

LIBS = ("llguidance", "xgrammar", "xgrammar-dyn")
CALLS = [
    ToolCall("book_flight", {"flight_id": "UA1234", "passenger": "Ada Lovelace"}),
    ToolCall("get_weather", {"city": "São Paulo", "date": "2025-03-14", "unit": "f"}),
    ToolCall("describe_numbers", {"numbers": [3, 5.5, 8, -2, 1e3]}),
    ToolCall("split_bill", {"total": 184.5, "people": 4, "tip_percent": 15}),
    ToolCall("change_case", {"text": "Ready for take-off, \"captain\"!", "case": "title"}),
]
PLANS = [
    ("The user wants a flight from New York to Los Angeles next Tuesday; first I search flights.", "caller"),
    ("UA1234 is the cheaper flight (189 USD), so I book it for Ada Lovelace.", "caller"),
    ("I have the booking reference ABC123, so I can answer.", "summarizer"),
    ("None of the tools can order food, so I cannot do this.", "give_up"),
]
INVALID = {  # each library must reject every one of these (so both enforce the same format)
    "caller": ['Action: book_flight\nAction Input: {"flight_id":"UA1234", "passenger": "Ada"}',
               'Action: book_flight\nAction Input: {"flight_id": "UA1234",  "passenger": "Ada"}',
               'Action: book_flight\nAction Input: {"flight_id": "UA1234", "passenger": "Ada", "x": 1}',
               'Action: book_flight\nAction Input: {"flight_id": "UA1234"}',
               'Action: get_weather\nAction Input: {"city": "Paris", "unit": "k"}',
               'Action: describe_numbers\nAction Input: {"numbers": [3, "5"]}',
               'Action: book_a_pizza\nAction Input: {}'],
    "planner": ["Rationale: first I search.\nNext: Planner", "Rationale: two\nlines\nNext: Caller",
                "Rationale: done.\nNext: Summarizer."],
}
SEPARATORS = (", ", ": ")


def caller_schemas() -> list[tuple[str, dict[str, Any]]]:
    from multiagentllm.tools import default_registry

    return [(s["name"], dict(s["parameters"], additionalProperties=False))
            for s in default_registry().schemas()]


def caller_head(name: str) -> str:
    return f"Action: {name}\nAction Input: "


class Llguidance:
    name = "llguidance"

    def __init__(self, hf_tok: Any, threads: int):
        import llguidance
        import llguidance.hf
        import torch

        self.ll = llguidance
        self.tok = llguidance.hf.from_tokenizer(hf_tok)
        # what llguidance.torch.fill_next_token_bitmask does, without importing that module: it
        # wraps a function in torch.compile at import time, which costs more than a second
        self.bitmask = torch.full((1, (self.tok.vocab_size + 31) // 32), -1, dtype=torch.int32)
        self._mask_ptr, self._mask_bytes = self.bitmask.data_ptr(), self.bitmask.numel() * 4

    def compile(self, kind: str) -> Any:
        if kind == "caller":
            x_guidance = {"item_separator": SEPARATORS[0], "key_separator": SEPARATORS[1],
                          "whitespace_flexible": False}
            alts = [f"{json.dumps(caller_head(name))} %json{json.dumps({**schema, 'x-guidance': x_guidance})}"
                    for name, schema in caller_schemas()]
            lark = "start: " + "\n     | ".join(alts)
        else:
            lark = 'start: "Rationale: " /[^\\n]*/ "\\nNext: " ("Caller" | "Summarizer" | "Give up")'
        matcher = self.ll.LLMatcher(self.tok, self.ll.LLMatcher.grammar_from_lark(lark), log_level=0)
        if matcher.is_error():
            raise SystemExit(f"llguidance rejected the {kind} grammar: {matcher.get_error()}")
        return matcher

    def mask(self, m: Any) -> None:
        m.unsafe_compute_mask_ptr(self._mask_ptr, self._mask_bytes)

    def check(self, m: Any, t: int) -> bool:  # validate only, no state change
        return m.validate_tokens([t]) == 1

    def check_commit(self, m: Any, t: int) -> bool:  # commit if valid, else leave the state as it was
        return m.try_consume_tokens([t]) == 1

    def commit(self, m: Any, t: int) -> bool:
        return m.consume_token(t)

    def done(self, m: Any) -> bool:
        return m.is_accepting()

    def reset(self, m: Any) -> None:
        m.reset()


class Xgrammar:
    name = "xgrammar"

    def __init__(self, hf_tok: Any, threads: int, dynamic: bool = False):
        import xgrammar

        self.xgr, self.threads, self.dynamic = xgrammar, threads, dynamic
        self.info = xgrammar.TokenizerInfo.from_huggingface(hf_tok, vocab_size=len(hf_tok))
        self.bitmask = xgrammar.allocate_token_bitmask(1, self.info.vocab_size)

    def compile(self, kind: str) -> Any:
        xgr = self.xgr
        compiler = xgr.GrammarCompiler(self.info, max_threads=self.threads, cache_enabled=False,
                                       enable_dynamic_compilation=self.dynamic)
        if kind == "caller":
            grammar = xgr.Grammar.union(*[
                xgr.Grammar.concat(xgr.Grammar.from_ebnf(f"root ::= {json.dumps(caller_head(name))}"),
                                   xgr.Grammar.from_json_schema(schema, any_whitespace=False,
                                                                separators=SEPARATORS))
                for name, schema in caller_schemas()])
        else:
            grammar = xgr.Grammar.from_ebnf(
                'root ::= "Rationale: " [^\\n]* "\\nNext: " ("Caller" | "Summarizer" | "Give up")')
        return xgr.GrammarMatcher(compiler.compile_grammar(grammar), terminate_without_stop_token=True)

    def mask(self, m: Any) -> None:
        m.fill_next_token_bitmask(self.bitmask)

    def check(self, m: Any, t: int) -> bool:  # xgrammar has no validate-only call: accept, roll back
        if not m.accept_token(t):
            return False
        m.rollback(1)
        return True

    def check_commit(self, m: Any, t: int) -> bool:  # a rejected token leaves the state unchanged
        return m.accept_token(t)

    def commit(self, m: Any, t: int) -> bool:
        return m.accept_token(t)

    def done(self, m: Any) -> bool:
        return m.is_completed()

    def reset(self, m: Any) -> None:
        m.reset()


def make_side(lib: str, hf_tok: Any, threads: int) -> Llguidance | Xgrammar:
    if lib == "llguidance":
        return Llguidance(hf_tok, threads)
    return Xgrammar(hf_tok, threads, dynamic=lib == "xgrammar-dyn")


def allowed(side: Llguidance | Xgrammar, t: int) -> bool:
    return bool((int(side.bitmask[0, t // 32]) >> (t % 32)) & 1)


def rejects(side: Llguidance | Xgrammar, m: Any, ids: list[int]) -> bool:
    side.reset(m)
    return not (all(side.check_commit(m, t) for t in ids) and side.done(m))


def us(seconds: list[float], p: float | None = None) -> float:
    if p is None:
        return statistics.fmean(seconds) * 1e6
    return sorted(seconds)[min(len(seconds) - 1, int(p * len(seconds)))] * 1e6


def token_pass(side: Llguidance | Xgrammar, m: Any, seqs: list[list[int]],
               masks: list[Any] | None = None) -> dict[str, list[float]]:
    """Full mask then commit, token by token; then the argmax fast path (check, check + commit).
    `masks` receives a copy of each step's mask (to compare the libraries)."""
    r: dict[str, list[float]] = {"mask": [], "check": [], "check_commit": []}
    for ids in seqs:
        side.reset(m)
        for t in ids:
            started = time.perf_counter()
            side.mask(m)
            r["mask"].append(time.perf_counter() - started)
            if masks is not None:
                masks.append(side.bitmask[0].clone())
            if not allowed(side, t) or not side.commit(m, t):
                raise SystemExit(f"{side.name} rejects token {t} of a valid output {ids}")
        if not side.done(m):
            raise SystemExit(f"{side.name} does not accept the end of a valid output {ids}")
        side.reset(m)
        for t in ids:
            started = time.perf_counter()
            ok = side.check(m, t)
            r["check"].append(time.perf_counter() - started)
            side.commit(m, t)
            assert ok
        side.reset(m)
        for t in ids:
            started = time.perf_counter()
            ok = side.check_commit(m, t)
            r["check_commit"].append(time.perf_counter() - started)
            assert ok
    return r


def measure(libs: list[str], hf_tok: Any, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    texts = {"caller": [call_text(c) for c in CALLS], "planner": [plan_text(r, n) for r, n in PLANS]}
    seqs = {k: [hf_tok(t, add_special_tokens=False)["input_ids"] for t in v] for k, v in texts.items()}
    invalid = {k: [hf_tok(t, add_special_tokens=False)["input_ids"] for t in v] for k, v in INVALID.items()}
    out: dict[str, dict[str, float]] = {lib: {} for lib in libs}
    sides = {lib: make_side(lib, hf_tok, args.threads) for lib in libs}  # timed in `cold`
    masks: dict[str, dict[str, list[Any]]] = {k: {} for k in texts}
    for kind in texts:
        compile_s: dict[str, list[float]] = {lib: [] for lib in libs}
        first_s: dict[str, list[float]] = {lib: [] for lib in libs}
        runs = {lib: {"first": [], "mask": [], "check": [], "check_commit": []} for lib in libs}
        for rep in range(args.repeats):
            for lib in libs:
                side = sides[lib]
                started = time.perf_counter()
                m = side.compile(kind)
                compiled = time.perf_counter()
                side.mask(m)
                compile_s[lib].append(compiled - started)
                first_s[lib].append(time.perf_counter() - started)
                # a first pass right after the compile (lazy work included), then a warm one
                if rep == 0:
                    masks[kind][lib] = []
                first = token_pass(side, m, seqs[kind], masks[kind][lib] if rep == 0 else None)
                runs[lib]["first"] += first["mask"]
                for key, values in token_pass(side, m, seqs[kind]).items():
                    runs[lib][key] += values
        for lib in libs:
            m = sides[lib].compile(kind)
            if not all(rejects(sides[lib], m, ids) for ids in invalid[kind]):
                raise SystemExit(f"{lib} accepts an invalid {kind} output of {INVALID[kind]}")
            o, r = out[lib], runs[lib]
            o[f"{kind}: compile ms"] = statistics.median(compile_s[lib]) * 1e3
            o[f"{kind}: compile + first mask ms"] = statistics.median(first_s[lib]) * 1e3
            o[f"{kind}: mask, 1st pass mean us"] = us(r["first"])
            o[f"{kind}: mask, warm mean us"] = us(r["mask"])
            o[f"{kind}: mask, warm p50 us"] = us(r["mask"], 0.5)
            o[f"{kind}: mask, warm p90 us"] = us(r["mask"], 0.9)
            o[f"{kind}: check 1 token mean us"] = us(r["check"])
            o[f"{kind}: check 1 token p90 us"] = us(r["check"], 0.9)
            o[f"{kind}: check+commit mean us"] = us(r["check_commit"])
        print(f"{kind}: {len(seqs[kind])} outputs, {sum(map(len, seqs[kind]))} tokens, all accepted and "
              f"{len(invalid[kind])} invalid ones rejected by {', '.join(libs)}")
        for lib in libs[1:]:
            print(f"  {lib} against {libs[0]}: {compare_masks(masks[kind][libs[0]], masks[kind][lib])}")
    return out


def compare_masks(base: list[Any], other: list[Any]) -> str:
    """Where masks differ, llguidance's is the narrower one here: it allows only the canonical
    tokenization of forced text (`Action` for "Action: ", not `A` or `Act`) and never allows the
    tokenizer's added tokens, which xgrammar (no special tokens detected for SmolLM2) allows as text."""
    same = sum(bool((a == b).all()) for a, b in zip(base, other))
    wider = sum(bool(((a & ~b) == 0).all()) for a, b in zip(base, other)) - same
    return f"masks identical at {same}, a strict superset at {wider}, other {len(base) - same - wider}"


def footprint_mb(lib: str) -> tuple[float, list[str]] | None:
    """Installed size of `lib` plus its required distributions the project does not already need."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def closure(names: list[str]) -> dict[str, metadata.Distribution]:
        seen: dict[str, metadata.Distribution] = {}
        todo = list(names)
        while todo:
            name = canonicalize_name(todo.pop())
            if name in seen:
                continue
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            seen[name] = dist
            for text in dist.requires or []:
                req = Requirement(text)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    todo.append(req.name)
        return seen

    own = closure([lib])
    if not own:
        return None
    extra = {n: d for n, d in own.items() if n not in closure(["multiagentllm"])}
    tops = {str(d.locate_file(f.parts[0])) for d in extra.values() for f in d.files or []
            if f.parts[0] != ".."}
    du = subprocess.run(["du", "-skc", *sorted(tops)], capture_output=True, text=True, check=True)
    return int(du.stdout.splitlines()[-1].split()[0]) / 1024, sorted(extra)


def cold_child(lib: str, threads: int) -> None:
    """In a fresh process: what the one-shot CLI pays from `import <lib>` to the first mask."""
    import torch  # noqa: F401  (the CLI has these loaded before it builds a grammar)
    import transformers  # noqa: F401

    from multiagentllm.models.load import load_tokenizer, resolve_base

    hf_tok = load_tokenizer(resolve_base("embedded"))
    caller_schemas()
    t0 = time.perf_counter()
    importlib.import_module(lib.removesuffix("-dyn"))
    t1 = time.perf_counter()
    side = make_side(lib, hf_tok, threads)
    t2 = time.perf_counter()
    side.mask(side.compile("caller"))
    t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "info": t2 - t1, "compile+mask": t3 - t2, "total": t3 - t0}))


def cold(libs: list[str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {lib: [] for lib in libs}
    for _ in range(args.cold_runs):
        for lib in libs:
            cmd = [sys.executable, __file__, "--cold-child", lib, "--threads", str(args.threads)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[lib].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {lib: {f"cold: {k} ms": statistics.median(r[k] for r in rs) * 1e3 for k in rs[0]}
            for lib, rs in runs.items()}


def print_table(results: dict[str, dict[str, float]]) -> None:
    libs = list(results)
    short = {"llguidance": "llg", "xgrammar": "xgr", "xgrammar-dyn": "xgr-dyn"}
    cols = libs + [f"{short[lib]}/{short[libs[0]]}" for lib in libs[1:]]
    print(f"\n{'':38}" + "".join(f"{c:>14}" for c in cols))
    for key in results[libs[0]]:
        values = [results[lib].get(key) for lib in libs]
        cells = [f"{v:14.1f}" if v is not None else f"{'-':>14}" for v in values]
        base = values[0]
        cells += [f"{v / base:13.2f}x" if v is not None and base else f"{'-':>14}" for v in values[1:]]
        print(f"{key:38}" + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5,
                    help="compiles, each followed by a first and a warm pass over the outputs")
    ap.add_argument("--cold-runs", type=int, default=3, help="fresh processes per library (0: skip)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="xgrammar compiler threads (llguidance compiles on one)")
    ap.add_argument("--cold-child", choices=LIBS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold_child:
        return cold_child(args.cold_child, args.threads)

    libs = []
    for lib in ("llguidance", "xgrammar"):
        if importlib.util.find_spec(lib) is None:
            print(f"note: {lib} is not installed here; skipped (see this file's docstring)")
        else:
            libs += [lib, "xgrammar-dyn"] if lib == "xgrammar" else [lib]
    if not libs:
        raise SystemExit("neither llguidance nor xgrammar is installed")
    from multiagentllm.models.load import load_tokenizer, resolve_base

    hf_tok = load_tokenizer(resolve_base("embedded"))
    print(f"tokenizer: SmolLM2 (vocab {len(hf_tok)}); {len(caller_schemas())} tool schemas; "
          f"{len(os.sched_getaffinity(0))} cores, xgrammar threads {args.threads}; "
          f"load average {os.getloadavg()[0]:.2f}")
    results = measure(libs, hf_tok, args)
    if args.cold_runs:
        for lib, r in cold(libs, args).items():
            results[lib].update(r)
    for lib in libs:
        fp = footprint_mb(lib.removesuffix("-dyn"))
        results[lib]["install MB (lib + new deps)"] = fp[0] if fp else None
        if fp and not lib.endswith("-dyn"):
            print(f"install footprint of {lib}: {fp[0]:.0f} MB in {', '.join(fp[1])}")
    print_table(results)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
