"""`umi eval suite`: the whole results table for one checkpoint, in one command that can be killed
and run again.

    umi eval suite --checkpoint checkpoints/cpu-full --data out/data --out runs/suite \\
        --limit-static 100 --limit-passrate 50 --limit-bfcl 100 --limit-apibench 100

Why it is shaped this way:

* Each (system, benchmark) is one report, `RUN_DIR/<benchmark>-<system>.json` (with the Markdown,
  chart and items that `write_report` writes), holding the settings it was computed with: the
  limit, the size and sha256 of every data file it read, the model's fingerprint and a fingerprint of the
  decoding settings (each turn's stop strings and token budget, prompt rendering, episode limits). A rerun
  skips a report whose settings match and recomputes one whose settings changed. Generations are
  cached beside each report (`Generator`), so a killed run resumes inside a benchmark; the cache's
  name holds both fingerprints, so retrained weights or changed decoding never reuse old generations.
* A system is loaded once for all its benchmarks and freed before the next one, and not loaded at
  all when every report it would write is already there.
* The static benchmark runs on a seeded sample of the held-out test split, stratified by source
  with equal shares (a source with fewer rows gives the rest to the others), written once to
  `RUN_DIR/static-test-sample.jsonl`: `--limit-static 100` measures every source, not the first
  100 rows of one, and a rerun measures the same trajectories.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from multiagentllm.eval.sampling import stratified_sample
from multiagentllm.agent.loop import SAFEGUARDS
from multiagentllm.tools.retrieval import DEFAULT_K
from multiagentllm.io import atomic_open, iter_jsonl, write_json, write_jsonl
from multiagentllm.paths import portable
from multiagentllm.roles.registry import TRIO

SYSTEMS = ("alpha-umi", "single", "base")
BENCHMARKS = ("static", "passrate_seen", "passrate", "bfcl_simple", "bfcl_multiple", "bfcl_irrelevance",
              "apibench_torchhub")
# The results table: (benchmark, figure of its report, column label), in the paper's order.
COLUMNS = (("static", "plan_acc", "Plan ACC"), ("static", "act_em", "Act. EM"), ("static", "hallu", "Hallu"),
           ("static", "arg_f1", "Arg. F1"), ("static", "rouge_l", "R-L"),
           ("passrate_seen", "pass_rate", "Pass rate (seen families)"),
           ("passrate", "pass_rate", "Pass rate (new families)"), ("bfcl_simple", "accuracy", "BFCL simple"),
           ("bfcl_multiple", "accuracy", "BFCL multiple"), ("bfcl_irrelevance", "accuracy", "BFCL irrelevance (no call)"), ("apibench_torchhub", "accuracy", "APIBench torchhub"),
           ("apibench_torchhub", "hallucination", "APIBench halluc."))
ROLES = {"alpha-umi": TRIO, "single": ("single",), "base": ()}
NOT_TRAINED = "not trained"
DEFAULT_SYNTH = Path("out") / "synth" / "trajectories.jsonl"
BFCL_DIR = ("gorilla", "berkeley-function-call-leaderboard", "bfcl_eval", "data")
BFCL_FILES = {"bfcl_simple": "BFCL_v4_simple_python.json", "bfcl_multiple": "BFCL_v4_multiple.json",
              "bfcl_irrelevance": "BFCL_v4_irrelevance.json"}
TORCHHUB = ("gorilla", "data", "apibench", "torchhub_eval.json")
SAMPLE = "static-test-sample.jsonl"


class SuiteError(ValueError):
    """Input the suite cannot run with; the message names what is wrong and where."""


def data_root() -> Path:
    """The public datasets, where `umi data build` reads them ($UMI_DATA_ROOT, else ../shared/datasets)."""
    from multiagentllm.data.build import default_data_root

    return default_data_root()


def parse_names(text: str | None, valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    """`a,b` -> ("a", "b"); None -> every valid name; an unknown name is a SuiteError."""
    if text is None:
        return valid
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        given = ", ".join(repr(n) for n in unknown) or "none"
        raise SuiteError(f"unknown {what}: {given}; valid {what}: {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


@dataclass
class SuiteConfig:
    checkpoint: Path
    data: Path  # the output of `umi data build`
    out: Path
    systems: tuple[str, ...] = SYSTEMS
    benchmarks: tuple[str, ...] = BENCHMARKS
    chosen: bool = False  # benchmarks named by the user: missing data is an error, never a skip
    limit_static: int | None = None
    limit_passrate: int | None = None
    limit_bfcl: int | None = None
    limit_apibench: int | None = None
    synth: Path | None = None  # None: DEFAULT_SYNTH when it exists, else passrate is skipped
    data_root: Path | None = None
    seed: int = 0
    batch_size: int = 0  # 0: automatic (eval.generate.auto_batch_size)
    command: str = ""
    # The runtime's safeguards (see agent.loop); all on by default, off for ablations.
    constrain: bool = True
    max_tools: int | None = DEFAULT_K
    loop_guard: bool = True
    ground_answers: bool = True

    def runtime(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SAFEGUARDS}

    def limit(self, benchmark: str) -> int | None:
        return getattr(self, "limit_" + benchmark.split("_")[0])


@dataclass
class Bench:
    name: str
    inputs: list[Path]  # what the evaluator reads
    files: list[Path]  # every file the result depends on (fingerprinted into the settings)
    limit: int | None
    extra: dict[str, Any] = field(default_factory=dict)


# --- data --------------------------------------------------------------------------------------

_digests: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Name, size and sha256 of a file (memoized per size and mtime, so big files hash once)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return {"name": path.name, "size": stat.st_size, "sha256": _digests[key]}


def static_sample(test: Path, out: Path, limit: int | None, seed: int, console: Console) -> Path:
    """RUN_DIR/static-test-sample.jsonl, written once and reused while the test split, the limit
    and the seed are the same (its recipe is kept beside it, in static-test-sample.json)."""
    sample, recipe_path = out / SAMPLE, out / SAMPLE.replace(".jsonl", ".json")
    recipe = {"test": file_fingerprint(test), "limit": limit, "seed": seed}
    old = _previous(recipe_path) if sample.exists() else None
    if old is not None:
        if {k: old.get(k) for k in recipe} == recipe:
            return sample
        console.print("static: the test split, --limit-static or --seed changed; sampling again")
    rows = [row for _, row in iter_jsonl(test)]
    chosen = stratified_sample(rows, limit, seed)
    by_source = Counter(str(r.get("source")) if isinstance(r, dict) else "?" for r in chosen)
    write_jsonl(sample, chosen)
    write_json(recipe_path, {**recipe, "path": str(test), "n": len(chosen),
                             "by_source": dict(sorted(by_source.items()))})
    console.print(f"static: {len(chosen)} of {len(rows)} test trajectories ("
                  + ", ".join(f"{s} {n}" for s, n in sorted(by_source.items())) + f") -> {escape(str(sample))}")
    return sample


def _passrate_bench(name: str, path: Path, limit: int | None, seed: int) -> Bench:
    from multiagentllm.eval.passrate import SELECTION

    return Bench(name, [path], [path], limit, {"seed": seed, "selection": SELECTION})


def _missing(cfg: SuiteConfig, name: str, path: Path, optional: bool, hint: str) -> str:
    """The reason a benchmark is skipped, or a SuiteError when the file was asked for."""
    reason = f"{path} not found{hint}"
    if cfg.chosen or not optional:
        raise SuiteError(f"{name}: {reason}")
    return reason


def resolve_benchmarks(cfg: SuiteConfig, console: Console) -> tuple[list[Bench], dict[str, str]]:
    """The benchmarks that run (files found) and, for the others, why they are skipped."""
    root = cfg.data_root or data_root()
    benches, skipped = [], {}
    for name in cfg.benchmarks:
        limit = cfg.limit(name)
        if name == "static":
            test = cfg.data / "trajectories" / "test.jsonl"
            if not test.exists():
                raise SuiteError(f"static: {test} not found; --data must be a folder written by `umi data build`")
            sample = static_sample(test, cfg.out, limit, cfg.seed, console)
            benches.append(Bench(name, [sample], [test], limit, {"seed": cfg.seed}))
        elif name == "passrate":
            synth = cfg.synth or DEFAULT_SYNTH
            if not synth.exists():
                skipped[name] = _missing(cfg, name, synth, cfg.synth is None,
                                         "; run `umi data synth --out out/synth` or pass --synth FILE")
                continue
            benches.append(_passrate_bench(name, synth, limit, cfg.seed))
        elif name == "passrate_seen":
            from multiagentllm.eval.passrate import playable_tasks
            from multiagentllm.io import SkipReport

            test = cfg.data / "trajectories" / "test.jsonl"
            if not test.exists():
                raise SuiteError(f"{name}: {test} not found; --data must be a folder written by `umi data build`")
            if not playable_tasks(test, SkipReport(), families="seen")[0]:
                reason = f"{test} has no task of the training families that the synthetic world can play"
                if cfg.chosen:
                    raise SuiteError(f"{name}: {reason}")
                skipped[name] = reason + " (built without `--synthetic`?)"
                continue
            benches.append(_passrate_bench(name, test, limit, cfg.seed))
        elif name in BFCL_FILES:
            from multiagentllm.data.loaders.bfcl import answers_path

            questions = root.joinpath(*BFCL_DIR, BFCL_FILES[name])
            answers = None if name == "bfcl_irrelevance" else answers_path(questions)  # irrelevance: no call is right
            needed = [p for p in (questions, answers) if p is not None]
            gone = next((p for p in needed if not p.exists()), None)
            if gone is not None:
                skipped[name] = _missing(cfg, name, gone, True, " (set UMI_DATA_ROOT to the datasets folder)")
                continue
            benches.append(Bench(name, [questions, answers], needed, limit))
        else:
            from multiagentllm.data.loaders.apibench import api_database_path

            split = root.joinpath(*TORCHHUB)
            if not split.exists():
                skipped[name] = _missing(cfg, name, split, True, " (set UMI_DATA_ROOT to the datasets folder)")
                continue
            database = api_database_path(split)
            benches.append(Bench(name, [split], [split] + ([database] if database else []), limit))
    for name, reason in skipped.items():
        console.print(f"[yellow]{name}: skipped[/], {escape(reason)}")
    return benches, skipped


# --- systems -----------------------------------------------------------------------------------

def model_fingerprint(manifest: Any, system: str) -> str:
    """What the system's outputs depend on: the base, and for trained systems the manifest's
    entries they use and the sha256 of their weight files (not the whole manifest: training
    another role later must not invalidate this system's reports)."""
    parts: list[Any] = [manifest.format, manifest.base]
    roles = ROLES[system]
    folders = [manifest.roles[r].path for r in roles]
    if any(manifest.roles[r].on == "stage1" for r in roles) and manifest.stage1 is not None:
        folders.append(manifest.stage1)
    parts += [(r, manifest.roles[r].path.name, manifest.roles[r].on) for r in roles]
    for folder in folders:
        for f in sorted(folder.glob("*")):
            if f.suffix in (".safetensors", ".bin") and f.is_file():
                parts.append((folder.name, file_fingerprint(f)["sha256"]))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def decoding_fingerprint(runtime: dict[str, Any] | None = None, engine: str = "torch") -> str:
    """What a system's outputs depend on besides its weights and the items: how each turn is
    generated (its stop strings and token budget), how prompts are rendered, and the episode
    limits, and the engine (llama.cpp rounds differently from torch, so near-ties can go the
    other way; "torch" adds nothing, so caches written before engines existed still match).
    A code change to any of these makes earlier reports and generation caches stale (greedy
    decoding otherwise gives the same text for the same prompt)."""
    from dataclasses import asdict

    from multiagentllm.agent import loop
    from multiagentllm.eval import bfcl
    from multiagentllm.models.backends.constrain import CLOSING_TOKENS
    from multiagentllm.roles import grammar, registry, render

    parts = {"turns": {t: {"stop": registry.stop(t), "max_new_tokens": registry.max_new_tokens(t)} for t in TRIO},
             "decision_tokens": loop.DECISION_TOKENS, "agent": asdict(loop.AgentConfig()),
             "bfcl_max_calls": bfcl.MAX_CALLS, "runtime": runtime or {},
             "grammars": [grammar.PLANNER.lark, grammar.DECISION.lark, grammar.JSON_STYLE, grammar.STRING_CHARS,
                          grammar.ARRAY_ITEMS, CLOSING_TOKENS],
             "render": [render.PROMPT_VERSION, render.OBSERVATION_CHARS, render.TOOL_DESC_CHARS,
                        render.PARAM_DESC_CHARS]}
    if engine != "torch":
        parts["engine"] = engine
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _engine(name: str, manifest: Any) -> str:
    if name == "base":
        return "torch"
    from multiagentllm.models.backends.checkpoint import engine_label

    return engine_label(manifest, single=name == "single")


def _load(name: str, cfg: SuiteConfig, manifest: Any):
    from multiagentllm.eval import systems

    if name == "base":  # the untrained model GLPFT starts from, run with the alpha-UMi role prompts
        return systems.load_system(base=manifest.base, name=name, runtime=cfg.runtime())
    return systems.load_system(str(cfg.checkpoint), single=name == "single", name=name, runtime=cfg.runtime())


def _free() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _evaluate(bench: Bench, system: Any, cache: Path, batch_size: int) -> tuple[dict, list, Any]:
    if bench.name.startswith("passrate"):
        from multiagentllm.eval.passrate import FAMILIES_OF, evaluate_passrate

        report, records = evaluate_passrate(bench.inputs[0], system, limit=bench.limit, cache=cache,
                                            seed=bench.extra["seed"], families=FAMILIES_OF[bench.name])
        return report, records, None
    from multiagentllm.eval.generate import Generator

    gen = Generator(system, cache=cache, batch_size=batch_size)
    if bench.name == "static":
        from multiagentllm.eval.static import evaluate_static

        report, records = evaluate_static(bench.inputs[0], gen)  # the sample already holds the limit
    elif bench.name in BFCL_FILES:
        from multiagentllm.eval.bfcl import evaluate_bfcl

        report, records = evaluate_bfcl(bench.inputs[0], gen, answers=bench.inputs[1], limit=bench.limit)
    else:
        from multiagentllm.eval.apibench import evaluate_apibench

        report, records = evaluate_apibench(bench.inputs, gen, limit=bench.limit)
    return report, records, gen


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    said = []
    for key in new:
        if key not in old:
            said.append(f"{key} not recorded")  # a report from a version that did not record it
        elif old[key] != new[key]:
            said.append(f"{key} {old[key]!r} -> {new[key]!r}" if key in ("limit", "seed") else f"{key} changed")
    return ", ".join(said) or "settings changed"


def _previous(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return report if isinstance(report, dict) else None


def _headline(report: dict[str, Any]) -> str:
    from multiagentllm.eval.report import LABELS, figures, pct

    return ", ".join(f"{LABELS[f]} {pct(report[f])}" for f in figures(report)) + f" (n={report.get('n')})"


def run_system(name: str, cfg: SuiteConfig, manifest: Any, benches: list[Bench], console: Console,
               timings: dict[str, Any]) -> dict[str, Any]:
    """Every benchmark of one system: reports whose settings match are reused; the system is
    loaded once for the rest, and freed afterwards."""
    from multiagentllm.eval.report import write_report

    missing = [r for r in ROLES[name] if r not in manifest.roles]
    if missing:
        reason = (f"{cfg.checkpoint} has no {', '.join(missing)} model yet (trained roles: "
                  f"{', '.join(sorted(manifest.roles)) or 'none'})")
        console.print(f"[yellow]{name}: skipped[/], {escape(reason)}")
        timings[name] = {"status": NOT_TRAINED}
        return {"status": NOT_TRAINED, "reason": reason, "runs": {}}
    fingerprint = model_fingerprint(manifest, name)
    engine = _engine(name, manifest)
    decoding = decoding_fingerprint(cfg.runtime(), engine)
    cache_key = hashlib.sha256(f"{fingerprint}|{decoding}".encode()).hexdigest()[:16]  # names every cache of this system
    runs: dict[str, dict] = {}
    todo = []
    timings[name] = {}
    for bench in benches:
        out = cfg.out / f"{bench.name}-{name}.json"
        settings = {"limit": bench.limit, "data": [file_fingerprint(f) for f in bench.files],
                    "model": fingerprint, "decoding": decoding, **bench.extra}
        if engine != "torch":  # named when it is not the engine every earlier report used
            settings["engine"] = engine
        old = _previous(out)
        if old is not None and old.get("settings") == settings:
            console.print(f"[green]✓[/] {name} · {bench.name}: finished earlier with these settings, reused")
            runs[bench.name] = {"status": "reused", "path": out, "report": old}
            timings[name][bench.name] = {"status": "reused", "seconds": old.get("seconds")}
            continue
        if old is not None:
            why = _changes(old.get("settings") or {}, settings) if old.get("settings") else "no suite settings"
            console.print(f"{name} · {bench.name}: {escape(why)}; recomputing")
        todo.append((bench, out, settings))
    if not todo:
        return {"status": "evaluated", "reason": "", "runs": runs}
    start = time.perf_counter()
    console.print(f"loading {name} …")
    system = _load(name, cfg, manifest)
    timings[name]["load"] = round(time.perf_counter() - start, 2)
    try:
        for bench, out, settings in todo:
            cache = out.with_name(f"{out.stem}.cache-{cache_key}.jsonl")
            for stale in out.parent.glob(f"{out.stem}.cache-*.jsonl"):
                if stale != cache:
                    stale.unlink()
                    console.print(f"{name} · {bench.name}: removed {escape(stale.name)} (other weights or decoding)")
            console.print(f"[bold]▶ {name} · {bench.name}[/] (limit {bench.limit or 'none'}) …")
            start = time.perf_counter()
            report, records, gen = _evaluate(bench, system, cache, cfg.batch_size)
            seconds = round(time.perf_counter() - start, 2)
            report = {**report, "benchmark": bench.name, "system": name, "checkpoint": portable(cfg.checkpoint),
                      "settings": settings, "seconds": seconds,
                      "generation": {"generated": getattr(gen, "generated", None),
                                     "reused": getattr(gen, "reused", None)}}
            write_report(report, records, out)
            console.print(f"[green]✓[/] {name} · {bench.name}: {_headline(report)} in {seconds:.1f} s")
            runs[bench.name] = {"status": "computed", "path": out, "report": report}
            timings[name][bench.name] = {"status": "computed", "seconds": seconds}
    finally:  # drop every reference to the model before the next system is loaded
        system = gen = None
        _free()
    return {"status": "evaluated", "reason": "", "runs": runs}


# --- results -----------------------------------------------------------------------------------

def results_table(results: dict[str, dict], skipped: dict[str, str]) -> str:
    """Markdown: one row per system, the paper's columns, figures in percent; then the notes."""
    from multiagentllm.eval.report import pct

    lines = ["| system | " + " | ".join(label for *_, label in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, result in results.items():
        if result["status"] == NOT_TRAINED:
            cells = [NOT_TRAINED] * len(COLUMNS)
        else:
            cells = [pct(result["runs"][b]["report"].get(f)) if b in result["runs"] else "–" for b, f, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = []
    sizes = {b: r["report"].get("n") for res in results.values() for b, r in res["runs"].items()}
    if sizes:
        notes.append("Items per benchmark: " + ", ".join(f"{b} {sizes[b]}" for b in BENCHMARKS if b in sizes)
                     + " (static: test trajectories, sampled by source; passrate_seen: new instructions of the"
                     " task families trained on, from the test split; passrate: tasks of the families held out of"
                     " training; both one task per instruction, sampled by family).")
    notes += [f"{name}: {NOT_TRAINED}: {r['reason']}." for name, r in results.items() if r["status"] == NOT_TRAINED]
    notes += [f"{b}: skipped, {reason}." for b, reason in skipped.items()]
    return "\n".join(lines) + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    from multiagentllm.eval.report import FIGURES

    keys = ("n", *FIGURES, "no_answer", "counts", "unparsed", "groups", "bad_items", "seconds", "generation")
    return {k: report[k] for k in keys if k in report}


def write_results(cfg: SuiteConfig, results: dict[str, dict], skipped: dict[str, str]) -> str:
    """RUN_DIR/results.md, results.json (every figure) and results.png; return the table."""
    from multiagentllm.eval.report import chart

    table = results_table(results, skipped)
    md = (f"# Results: {portable(cfg.checkpoint)}\n\nFigures in percent. Each run's report, with figures per test group, "
          f"is `<benchmark>-<system>.md` beside this file.\n\n{table}")
    with atomic_open(cfg.out / "results.md") as f:
        f.write(md)
    write_json(cfg.out / "results.json", {
        "checkpoint": portable(cfg.checkpoint),
        "columns": [{"benchmark": b, "figure": f, "label": label} for b, f, label in COLUMNS],
        "systems": {name: {"status": r["status"], "reason": r["reason"],
                           "runs": {b: {"status": run["status"], "report": run["path"].name,
                                        **_figures(run["report"])} for b, run in r["runs"].items()}}
                    for name, r in results.items()},
        "skipped_benchmarks": skipped})
    reports = [run["report"] for r in results.values() for run in r["runs"].values()]
    if reports:
        chart(reports, cfg.out / "results.png")
    return table


def _manifest(checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    from multiagentllm.models.backends.checkpoint import CheckpointError, read_manifest

    try:
        manifest = read_manifest(checkpoint)
    except CheckpointError as e:
        raise SuiteError(str(e)) from None
    return manifest, json.loads((manifest.root / "manifest.json").read_text(encoding="utf-8"))


def run_suite(cfg: SuiteConfig, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) every benchmark for every system; write the results; return them with
    the Markdown table under "table"."""
    from multiagentllm import __version__
    from multiagentllm.roles.render import PROMPT_VERSION

    console = console or Console(highlight=False, soft_wrap=True)
    started, start = datetime.now(timezone.utc), time.perf_counter()
    manifest, manifest_raw = _manifest(cfg.checkpoint)
    cfg.out.mkdir(parents=True, exist_ok=True)
    benches, skipped = resolve_benchmarks(cfg, console)
    results: dict[str, dict] = {}
    timings: dict[str, Any] = {}
    complete = False
    try:
        for name in cfg.systems:
            results[name] = run_system(name, cfg, manifest, benches, console, timings)
        table = write_results(cfg, results, skipped)
        complete = True
    finally:  # also after a failure or Ctrl-C: what ran, and for how long
        write_json(cfg.out / "suite.json", {
            "command": cfg.command,
            "settings": {k: portable(v) if isinstance(v, Path) or (k == "data_root" and v) else v
                         for k, v in asdict(cfg).items()},
            "checkpoint": portable(cfg.checkpoint), "manifest": manifest_raw, "timings": timings,
            "seconds": round(time.perf_counter() - start, 2), "started": started.isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(), "complete": complete,
            "version": __version__, "prompt_version": PROMPT_VERSION})
    return {"systems": results, "skipped": skipped, "table": table}
