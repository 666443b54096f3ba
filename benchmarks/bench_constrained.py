"""Constrained against free decoding, side by side in one run, on the shipped trio's held-out role
calls (planner and caller turns of test trajectories, rendered by `multiagentllm.roles` exactly as
the agent renders them, with the trajectory's own tools offered).

For each call, both ways run on the default in-process path (lean runner, prompt-lookup drafts):
  * free:        no grammar (the runtime before the grammars);
  * constrained: the role's grammar (`roles.grammar`: planner decision / caller tool + JSON schema).
Decode rate = (tokens decoded - 1) / (time for the call - time for its first token), so prefill is
not counted (tokens decoded: all the runner produced, also those after a stop string that the
returned text cuts off); the two are interleaved call by call, so a busy machine slows both alike.
Target: the constrained rate >= 0.9x the free one. Seconds per call (prefill included) are
printed too: a grammar also ends a turn as soon as it is complete, where free decoding runs on
to a stop string.

It also checks, call by call, the claim the runtime rests on: where the free output already fits
the grammar, the constrained output is the same text (the grammar only changes outputs that
break it: the free text starts with the constrained one, which ends where the grammar does),
and counts the free outputs that break it (no decision, invalid JSON, a tool not
offered, arguments the schema rejects).

Run:  .venv/bin/python benchmarks/bench_constrained.py [--checkpoint checkpoints/cpu-full]
      [--data out/data] [--calls 40] [--out results/constrained]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def held_out_calls(test: Path, n: int) -> list[tuple[str, str, list[dict]]]:
    """(role, prompt, offered tools) for the first planner and caller turns of test trajectories,
    alternating roles, n in all."""
    from multiagentllm.roles import caller, planner
    from multiagentllm.types import Trajectory

    calls: dict[str, list] = {"planner": [], "caller": []}
    with open(test, encoding="utf-8") as f:
        for line in f:
            traj = Trajectory.from_dict(json.loads(line))
            if not traj.tools:
                continue
            for t, step in enumerate(traj.steps):
                calls["planner"].append(("planner", planner.prompt(traj.instruction, traj.tools, traj.steps[:t]),
                                         traj.tools))
                if step.next == "caller":
                    calls["caller"].append(("caller", caller.prompt(traj.instruction, traj.tools, traj.steps[:t],
                                                                    step.rationale), traj.tools))
                break  # one turn per trajectory and role: more trajectories, more variety
            if min(len(v) for v in calls.values()) >= n // 2:
                break
    return [c for pair in zip(calls["planner"], calls["caller"]) for c in pair][:n]


def fits(role: str, text: str, tools: list[dict]) -> str | None:
    """Why a free output breaks the role's grammar, or None."""
    import jsonschema

    from multiagentllm.roles import FormatError, caller, planner
    from multiagentllm.roles.grammar import RATIONALE_CHARS, arguments_schema

    try:
        if role == "planner":
            rationale, _ = planner.parse(text)
            if "\n" in rationale or len(rationale) > RATIONALE_CHARS or not text.startswith("Rationale: "):
                return "rationale not one line"
            return None
        call = caller.parse(text)
    except FormatError as e:
        return "invalid JSON" if "JSON" in str(e) else "no parsable turn"
    offered = {t["name"]: t for t in tools}
    if call.name not in offered:
        return "tool not offered"
    try:
        jsonschema.validate(call.arguments, arguments_schema(offered[call.name]))
    except jsonschema.ValidationError:
        return "arguments break the schema"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="checkpoints/cpu-full")
    ap.add_argument("--data", default="out/data", help="`umi data build` output (its trajectories/test.jsonl)")
    ap.add_argument("--calls", type=int, default=40, help="held-out calls (half planner, half caller)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--repeats", type=int, default=2, help="runs per timing; the fastest counts")
    ap.add_argument("--out", default="results/constrained", help="folder for constrained.json/.md")
    args = ap.parse_args()

    import torch

    from multiagentllm.models import load_llm
    from multiagentllm.roles import caller, planner
    from multiagentllm.roles.grammar import PLANNER, caller_grammar

    torch.set_num_threads(args.threads)
    llm = load_llm(args.checkpoint)
    modules = {"planner": planner, "caller": caller}

    from multiagentllm.models.backends import decode

    decoded: list[int] = []
    text_of = decode._text

    def counting_text(tokenizer, out, stop):  # how many tokens the runner decoded for this call
        decoded.append(len(out))
        return text_of(tokenizer, out, stop)

    decode._text = counting_text

    def run(role, prompt, k, grammar):
        for runner in llm._runners.values():
            if hasattr(runner, "saved"):
                runner.saved.clear()  # no prefix reuse: every call prefills
        t = time.perf_counter()
        text = llm.complete([prompt], role=role, max_new_tokens=k, stop=modules[role].STOP, constraint=grammar)[0]
        return time.perf_counter() - t, text, decoded[-1]

    calls = held_out_calls(Path(args.data) / "trajectories" / "test.jsonl", args.calls)
    rows = []
    for i, (role, prompt, tools) in enumerate(calls):
        grammar = PLANNER if role == "planner" else caller_grammar(tools)
        out = {"role": role}
        for name, g in (("free", None), ("constrained", grammar)):
            first = min(run(role, prompt, 1, g)[0] for _ in range(args.repeats))
            timed = [run(role, prompt, modules[role].MAX_NEW_TOKENS, g) for _ in range(args.repeats)]
            full, text, tokens = min(timed, key=lambda x: x[0])  # the least disturbed run
            out[name] = {"seconds": full - first, "call_seconds": full, "tokens": tokens, "text": text}
        out["breaks"] = fits(role, out["free"]["text"], tools)
        out["same"] = out["free"]["text"].startswith(out["constrained"]["text"])
        rows.append(out)
        print(f"[{i + 1}/{len(calls)}] {role:8s} free {out['free']['tokens']:3d} tok  constrained "
              f"{out['constrained']['tokens']:3d} tok  {'same' if out['same'] else 'differs'}"
              f"{'  (free output breaks the grammar: ' + out['breaks'] + ')' if out['breaks'] else ''}", flush=True)

    def rate(rs, name):
        tokens = sum(max(r[name]["tokens"] - 1, 0) for r in rs)
        return tokens / max(sum(r[name]["seconds"] for r in rs), 1e-9)

    summary = {}
    for role in ("planner", "caller", "all"):
        rs = [r for r in rows if role in (r["role"], "all")]
        fitting = [r for r in rs if not r["breaks"]]
        call = {name: sum(r[name]["call_seconds"] for r in rs) / max(len(rs), 1) for name in ("free", "constrained")}
        summary[role] = {"calls": len(rs), "free_tok_s": rate(rs, "free"), "constrained_tok_s": rate(rs, "constrained"),
                         "ratio": rate(rs, "constrained") / max(rate(rs, "free"), 1e-9),
                         "free_s_per_call": call["free"], "constrained_s_per_call": call["constrained"],
                         "free_breaks_grammar": len(rs) - len(fitting),
                         "fitting_unchanged": sum(r["same"] for r in fitting), "fitting": len(fitting),
                         "breaks": sorted({r["breaks"] for r in rs if r["breaks"]})}
    lines = ["| held-out calls | n | free tok/s | constrained tok/s | ratio | free s/call | constrained s/call | "
             "free outputs breaking the grammar | fitting outputs unchanged |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for role, s in summary.items():
        lines.append(f"| {role} | {s['calls']} | {s['free_tok_s']:.1f} | {s['constrained_tok_s']:.1f} | "
                     f"{s['ratio']:.2f}x | {s['free_s_per_call']:.2f} | {s['constrained_s_per_call']:.2f} | "
                     f"{s['free_breaks_grammar']} ({', '.join(s['breaks']) or '-'}) | "
                     f"{s['fitting_unchanged']}/{s['fitting']} |")
    load = os.getloadavg()[0]
    table = "\n".join(lines) + (f"\n\n{args.threads} threads, load average {load:.1f}, checkpoint "
                                f"{args.checkpoint}, lean runner with prompt-lookup drafts (the default path).\n")
    print("\n" + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "constrained.json").write_text(json.dumps({"summary": summary, "rows": rows, "load": load}, indent=1))
    (out / "constrained.md").write_text("### Constrained vs free decoding on held-out role calls\n\n" + table)
    print(f"wrote {out / 'constrained.md'} and constrained.json")


if __name__ == "__main__":
    main()
