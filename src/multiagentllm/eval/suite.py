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
* The benchmarks are the registered ones (`eval.benchmarks`, one file each): the suite asks each
  for its items (`find`) and runs it (`run`); it knows no benchmark by name. The static benchmark
  measures a seeded sample of the test split, stratified by source (see `benchmarks.static`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from multiagentllm import __version__
from multiagentllm.agent import loop
from multiagentllm.agent.loop import SAFEGUARDS, AgentConfig
from multiagentllm.data.splits import name_shared, shared_instructions
from multiagentllm.eval import systems
from multiagentllm.eval.benchmarks import BENCHMARKS, DEFAULT, Benchmark, Items, Missing, Where, bfcl
from multiagentllm.eval.benchmarks.base import file_fingerprint, read_object
from multiagentllm.eval.benchmarks import passrate
from multiagentllm.eval.report import FIGURES, LABELS, chart, figures, pct, write_report
from multiagentllm.io import SkipReport, atomic_open, read_trajectories, write_json
from multiagentllm.models.backends.checkpoint import CheckpointError, engine_label, read_manifest
from multiagentllm.paths import default_data_root, portable, repo_path
from multiagentllm.types import Trajectory
from multiagentllm.roles import grammar, registry, render
from multiagentllm.roles.registry import TRIO

SYSTEMS = ("alpha-umi", "single", "base")
ROLES = {"alpha-umi": TRIO, "single": ("single",), "base": ()}
NOT_TRAINED = "not trained"


class SuiteError(ValueError):
    """Input the suite cannot run with; the message names what is wrong and where."""


def data_root() -> Path:
    """The public datasets, where `umi data build` reads them ($UMI_DATA_ROOT, else ../shared/datasets)."""
    return default_data_root()


def columns(benchmarks: tuple[str, ...] = DEFAULT) -> list[tuple[str, str, str]]:
    """The results table's columns, (benchmark, figure of its report, label), in the paper's order:
    every default benchmark's, and those of the others that were asked for."""
    return [(b.name, figure, label) for b in BENCHMARKS.values() if b.default or b.name in benchmarks
            for figure, label in b.columns]


def parse_names(text: str | None, valid: tuple[str, ...], what: str,
                default: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """`a,b` -> ("a", "b"); None -> `default`, else every valid name; an unknown name is a SuiteError."""
    if text is None:
        return valid if default is None else default
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
    benchmarks: tuple[str, ...] = DEFAULT  # names in `eval.benchmarks.BENCHMARKS`
    chosen: bool = False  # benchmarks named by the user: missing data is an error, never a skip
    limit_static: int | None = None
    limit_passrate: int | None = None
    limit_bfcl: int | None = None
    limit_apibench: int | None = None
    limit_taubench: int | None = None
    synth: Path | None = None  # None: out/synth/trajectories.jsonl when it exists, else passrate is skipped
    data_root: Path | None = None
    seed: int = 0
    batch_size: int = 0  # 0: automatic (eval.generate.auto_batch_size)
    command: str = ""
    # The runtime's safeguards (see agent.loop) the systems run with; all on by default, off for ablations.
    agent: AgentConfig = field(default_factory=AgentConfig)

    def runtime(self) -> dict[str, Any]:
        return {k: getattr(self.agent, k) for k in SAFEGUARDS}

    def limit(self, benchmark: Benchmark) -> int | None:
        """The --limit-<option> that sizes `benchmark`."""
        return getattr(self, f"limit_{benchmark.limit}")


def resolve_benchmarks(cfg: SuiteConfig, console: Console) -> tuple[list[tuple[Benchmark, Items]], dict[str, str]]:
    """The benchmarks that run, with the items each reads, and, for the others, why they are skipped."""
    where = Where(cfg.data, cfg.data_root or data_root(), cfg.out, cfg.synth, cfg.seed, console)
    found, skipped = [], {}
    for name in cfg.benchmarks:
        bench = BENCHMARKS[name]
        try:
            found.append((bench, bench.find(where, cfg.limit(bench))))
        except Missing as e:
            if cfg.chosen or not e.optional:  # a benchmark the user named must run
                raise SuiteError(f"{name}: {e.reason}") from None
            skipped[name] = e.reason + e.hint
    for name, reason in skipped.items():
        console.print(f"[yellow]{name}: skipped[/], {escape(reason)}")
    return found, skipped


# --- items the checkpoint trained on ---------------------------------------------------------------

SHOWN = 3  # leaked items named in the error


def training_builds(manifest: Any) -> list[Path]:
    """The data builds the checkpoint's stages trained on, as each stage's config.yaml names them
    (`data:`, checkout-relative as training writes it), those present on this machine."""
    builds = set()
    for folder in filter(None, [manifest.stage1, *(entry.path for entry in manifest.roles.values())]):
        config = folder / "config.yaml"
        data = (yaml.safe_load(config.read_text()) or {}).get("data") if config.is_file() else None
        if data:
            build = Path(data) if Path(data).is_absolute() else repo_path(data)
            if (build / "trajectories" / "train.jsonl").is_file():
                builds.add(build.resolve())
    return sorted(builds)


def evaluated_trajectories(bench: Benchmark, items: Items) -> list[Trajectory]:
    """The trajectories behind a benchmark's items when they come from a data build or a
    synthesized file (static, the pass rates); [] for the others (BFCL, APIBench, tau-bench)."""
    if bench.limit == "passrate":
        families = "held_out" if bench.name == passrate.benchmark_name("held_out") else "seen"
        return passrate.playable_tasks(items.files[0], SkipReport(), families=families)[0]
    if bench.limit == "static":
        return list(read_trajectories(items.files[0], skip_bad=True))
    return []


def check_unseen(benches: list[tuple[Benchmark, Items]], manifest: Any, console: Console) -> None:
    """Stop before any generation when an item's instruction is in the training split of a build
    the checkpoint trained on: its figures would not be measured on unseen data."""
    builds = training_builds(manifest)
    if not builds:
        return
    train = [t for build in builds for t in read_trajectories(build / "trajectories" / "train.jsonl", skip_bad=True)]
    for bench, items in benches:
        leaked = shared_instructions(train, evaluated_trajectories(bench, items))
        if leaked:
            named = name_shared(leaked, SHOWN, 60)
            raise SuiteError(f"{bench.name}: {len(leaked)} of its items ({portable(items.files[0])}) are in the "
                             f"training split of {', '.join(map(portable, builds))}, which the checkpoint trained on "
                             f"({named}); evaluate on items it did not train on (another --data or --synth)")
    console.print(f"[dim]items checked unseen: no instruction in the training split of "
                  f"{', '.join(map(portable, builds))}[/]")


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
    # constrain loads torch: +1.6 s on `import multiagentllm.eval.suite` (python -X importtime), which
    # `umi --help` and `umi eval paired` would pay at start-up
    from multiagentllm.models.backends.constrain import CLOSING_TOKENS

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
    return engine_label(manifest, single=name == "single")


def _load(name: str, cfg: SuiteConfig, manifest: Any):
    if name == "base":  # the untrained model GLPFT starts from, run with the alpha-UMi role prompts
        return systems.load_system(base=manifest.base, name=name, agent=cfg.agent)
    return systems.load_system(str(cfg.checkpoint), single=name == "single", name=name, agent=cfg.agent)


def _free() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    said = []
    for key in new:
        if key not in old:
            said.append(f"{key} not recorded")  # a report from a version that did not record it
        elif old[key] != new[key]:
            said.append(f"{key} {old[key]!r} -> {new[key]!r}" if key in ("limit", "seed") else f"{key} changed")
    return ", ".join(said) or "settings changed"


def _headline(report: dict[str, Any]) -> str:
    return ", ".join(f"{LABELS[f]} {pct(report[f])}" for f in figures(report)) + f" (n={report.get('n')})"


def run_system(name: str, cfg: SuiteConfig, manifest: Any, benches: list[tuple[Benchmark, Items]],
               console: Console, timings: dict[str, Any]) -> dict[str, Any]:
    """Every benchmark of one system: reports whose settings match are reused; the system is
    loaded once for the rest, and freed afterwards."""
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
    runs: dict[str, dict] = {}
    todo = []
    timings[name] = {}
    for bench, items in benches:
        out = cfg.out / f"{bench.name}-{name}.json"
        settings = {"limit": items.limit, "data": [file_fingerprint(f) for f in items.files],
                    "model": fingerprint, "decoding": decoding, **items.extra,
                    **({"version": bench.version} if bench.version else {})}
        if engine != "torch":  # named when it is not the engine every earlier report used
            settings["engine"] = engine
        old = read_object(out)
        if old is not None and old.get("settings") == settings:
            console.print(f"[green]✓[/] {name} · {bench.name}: finished earlier with these settings, reused")
            runs[bench.name] = {"status": "reused", "path": out, "report": old}
            timings[name][bench.name] = {"status": "reused", "seconds": old.get("seconds")}
            continue
        if old is not None:
            why = _changes(old.get("settings") or {}, settings) if old.get("settings") else "no suite settings"
            console.print(f"{name} · {bench.name}: {escape(why)}; recomputing")
        todo.append((bench, items, out, settings))
    if not todo:
        return {"status": "evaluated", "reason": "", "runs": runs}
    start = time.perf_counter()
    console.print(f"loading {name} …")
    system = _load(name, cfg, manifest)
    timings[name]["load"] = round(time.perf_counter() - start, 2)
    try:
        for bench, items, out, settings in todo:
            version = f"|{bench.version}" if bench.version else ""  # none: the name earlier caches have
            key = hashlib.sha256(f"{fingerprint}|{decoding}{version}".encode()).hexdigest()[:16]
            cache = out.with_name(f"{out.stem}.cache-{key}.jsonl")
            for stale in out.parent.glob(f"{out.stem}.cache-*.jsonl"):
                if stale != cache:
                    stale.unlink()
                    console.print(f"{name} · {bench.name}: removed {escape(stale.name)} (other weights or decoding)")
            console.print(f"[bold]▶ {name} · {bench.name}[/] (limit {items.limit or 'none'}) …")
            start = time.perf_counter()
            report, records, gen = bench.run(items, system, cache, cfg.batch_size)
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

def results_table(results: dict[str, dict], skipped: dict[str, str], benchmarks: tuple[str, ...] = DEFAULT) -> str:
    """Markdown: one row per system, the paper's columns, figures in percent; then the notes."""
    cols = columns(benchmarks)
    lines = ["| system | " + " | ".join(label for *_, label in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for name, result in results.items():
        if result["status"] == NOT_TRAINED:
            cells = [NOT_TRAINED] * len(cols)
        else:
            cells = [pct(result["runs"][b]["report"].get(f)) if b in result["runs"] else "–" for b, f, _ in cols]
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
    keys = ("n", *FIGURES, "no_answer", "counts", "unparsed", "groups", "bad_items", "seconds", "generation")
    return {k: report[k] for k in keys if k in report}


def write_results(cfg: SuiteConfig, results: dict[str, dict], skipped: dict[str, str]) -> str:
    """RUN_DIR/results.md, results.json (every figure) and results.png; return the table."""
    table = results_table(results, skipped, cfg.benchmarks)
    md = (f"# Results: {portable(cfg.checkpoint)}\n\nFigures in percent. Each run's report, with figures per test group, "
          f"is `<benchmark>-<system>.md` beside this file.\n\n{table}")
    with atomic_open(cfg.out / "results.md") as f:
        f.write(md)
    write_json(cfg.out / "results.json", {
        "checkpoint": portable(cfg.checkpoint),
        "columns": [{"benchmark": b, "figure": f, "label": label} for b, f, label in columns(cfg.benchmarks)],
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
    try:
        manifest = read_manifest(checkpoint)
    except CheckpointError as e:
        raise SuiteError(str(e)) from None
    return manifest, json.loads((manifest.root / "manifest.json").read_text(encoding="utf-8"))


def run_suite(cfg: SuiteConfig, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) every benchmark for every system; write the results; return them with
    the Markdown table under "table"."""
    console = console or Console(highlight=False, soft_wrap=True)
    started, start = datetime.now(timezone.utc), time.perf_counter()
    manifest, manifest_raw = _manifest(cfg.checkpoint)
    cfg.out.mkdir(parents=True, exist_ok=True)
    benches, skipped = resolve_benchmarks(cfg, console)
    check_unseen(benches, manifest, console)
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
            "version": __version__, "prompt_version": render.PROMPT_VERSION})
    return {"systems": results, "skipped": skipped, "table": table}
