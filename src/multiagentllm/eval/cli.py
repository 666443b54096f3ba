"""`umi eval` subcommands (thin wrappers over library functions).

    umi eval static   --data test.jsonl [--checkpoint DIR | --base embedded | --endpoint URL --model M] [--single]
    umi eval apibench [--data torchhub_eval.json ...]
    umi eval bfcl     --questions BFCL_v4_simple_python.json [--answers possible_answer/...]
    umi eval passrate --data synth_test.jsonl
    umi eval taubench [--data tasks_dev.py]
    umi eval compare  runs/eval/*.json --out runs/eval/compare
    umi eval failures results/cpu-full-runtime [--system alpha-umi] [--out FILE]
    umi eval suite    --checkpoint DIR --data out/data --out runs/suite [--limit-static N ...]

Every run command takes --limit N, --out FILE (the JSON report; a Markdown table, a PNG chart
and the per-item records are written beside it) and --cache FILE (generations, so an
interrupted run resumes; default beside --out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from multiagentllm.agent.loop import AgentConfig, safeguards
from multiagentllm.data.loaders import SOURCES
from multiagentllm.eval import failures as fail, paired as pair, systems as eval_systems
from multiagentllm.eval.benchmarks import BENCHMARKS, DEFAULT, Items, apibench as apibench_bench, bfcl as bfcl_bench
from multiagentllm.eval.benchmarks import passrate as passrate_bench, static as static_bench
from multiagentllm.eval.report import compare as compare_runs, markdown, write_report
from multiagentllm.eval.suite import SYSTEMS, SuiteConfig, SuiteError, data_root, parse_names, run_suite
from multiagentllm.eval.benchmarks.taubench import MAX_STEPS as TAU_MAX_STEPS, evaluate_taubench
from multiagentllm.io import DataError
from multiagentllm.models.backends.checkpoint import CheckpointError
from multiagentllm.paths import command_line

app = typer.Typer(help="Evaluate agents: step-level metrics, APIBench, BFCL, pass rate; compare runs.",
                  no_args_is_help=True)

Checkpoint = Annotated[Optional[str], typer.Option(help="Checkpoint folder (default: the shipped trio).")]
Single = Annotated[bool, typer.Option("--single", help="Evaluate the checkpoint's single-LLM baseline.")]
Base = Annotated[Optional[str], typer.Option(help="Untrained base model with no adapters: 'embedded', a folder or a hub id.")]
EndpointOpt = Annotated[Optional[str], typer.Option("--endpoint", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model name at --endpoint; '{role}' is replaced by the role.")]
Limit = Annotated[Optional[int], typer.Option(help="Evaluate only the first N items.", min=1)]
Out = Annotated[Optional[Path], typer.Option(help="JSON report path (default: runs/eval/<benchmark>-<system>.json).")]
Cache = Annotated[Optional[Path], typer.Option(help="Generation cache (default: <out>.cache.jsonl).")]
Batch = Annotated[int, typer.Option(help="Prompts per generation batch; 0: automatic (1 for a model in process on "
                                         "a CPU, where prefix reuse wins; 8 on a GPU or an endpoint).", min=0)]
Name = Annotated[Optional[str], typer.Option(help="System name shown in reports.")]


NoConstrain = Annotated[bool, typer.Option("--no-constrain", help="Decode planner and caller turns without their grammars (ablation).")]
NoRetrieval = Annotated[bool, typer.Option("--no-retrieval", help="Offer every available tool, however many (ablation).")]
NoGuard = Annotated[bool, typer.Option("--no-guard", help="Let identical calls run again (ablation).")]
NoGrounding = Annotated[bool, typer.Option("--no-grounding", help="Accept answers with values no tool returned (ablation).")]
Plain = Annotated[bool, typer.Option("--plain", help="All four safeguards off: the runtime as before them.")]
MaxTools = Annotated[Optional[int], typer.Option(help="Tools offered (retrieved) when more are available; default: the trained prompt size.", min=1)]


def runtime_options(no_constrain: bool, no_retrieval: bool, no_guard: bool, no_grounding: bool,
                    plain: bool, max_tools: int | None) -> AgentConfig:
    """The agent config with the safeguard settings the flags describe; `--plain` is all off."""
    return AgentConfig(**safeguards(no_constrain=no_constrain or plain, no_retrieval=no_retrieval or plain,
                                    no_guard=no_guard or plain, no_grounding=no_grounding or plain,
                                    max_tools=max_tools))


def _system(checkpoint, single, base, endpoint, model, name, agent=None):
    try:
        return eval_systems.load_system(checkpoint, single=single, base=base, endpoint=endpoint, model=model,
                           api_key=os.environ.get("OPENAI_API_KEY"), name=name, agent=agent)
    except (ValueError, RuntimeError, OSError) as e:
        raise typer.BadParameter(str(e)) from None


@contextmanager
def _bad_input() -> Iterator[None]:
    """A bad input file ends the command with its message (file and line), not a traceback."""
    try:
        yield
    except DataError as e:
        raise typer.BadParameter(str(e)) from None


def _paths(benchmark: str, system_name: str, out: Path | None, cache: Path | None) -> tuple[Path, Path]:
    out = out or Path("runs") / "eval" / f"{benchmark}-{system_name}.json"
    return out, cache or out.with_name(out.stem + ".cache.jsonl")


def _finish(report: dict, records: list, system, gen, out: Path) -> None:
    report = {"system": system.name, **report,
              "generation": {"generated": gen.generated if gen else None, "reused": gen.reused if gen else None}}
    paths = write_report(report, records, out)
    typer.echo(markdown(report))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def _prepare(benchmark, checkpoint, single, base, endpoint, model, name, out, cache, agent=None):
    system = _system(checkpoint, single, base, endpoint, model, name, agent)
    return (system, *_paths(benchmark, system.name, out, cache))


@app.command()
def static(data: Annotated[Path, typer.Option(help="Test trajectories (canonical JSONL or alpha-UMi format).")],
           checkpoint: Checkpoint = None, single: Single = False, base: Base = None, endpoint: EndpointOpt = None,
           model: ModelOpt = None, limit: Limit = None, out: Out = None, cache: Cache = None,
           batch_size: Batch = 0, name: Name = None, no_constrain: NoConstrain = False,
           plain: Plain = False) -> None:
    """Step-level Plan ACC, Act. EM, Hallu, Arg. F1 and ROUGE-L, overall and per group."""
    system, out, cache = _prepare("static", checkpoint, single, base, endpoint, model, name, out, cache,
                                  runtime_options(no_constrain, False, False, False, plain, None))
    with _bad_input():
        report, records, gen = static_bench.run(Items([data], [data], limit), system, cache, batch_size)
    _finish(report, records, system, gen, out)


@app.command()
def apibench(data: Annotated[Optional[list[Path]], typer.Option(help="APIBench eval split(s); default: the shipped ones.")] = None,
             checkpoint: Checkpoint = None, single: Single = False, base: Base = None, endpoint: EndpointOpt = None,
             model: ModelOpt = None, limit: Limit = None, out: Out = None, cache: Cache = None,
             batch_size: Batch = 0, name: Name = None, no_constrain: NoConstrain = False,
             plain: Plain = False) -> None:
    """Gorilla APIBench: AST match against the API database; accuracy and hallucination per hub."""
    paths = data or SOURCES["apibench_eval"].files(data_root())
    if not paths:
        raise typer.BadParameter(f"no APIBench eval files under {data_root()}; pass --data FILE")
    system, out, cache = _prepare("apibench", checkpoint, single, base, endpoint, model, name, out, cache,
                                  runtime_options(no_constrain, False, False, False, plain, None))
    with _bad_input():
        report, records, gen = apibench_bench.run(Items(list(paths), list(paths), limit), system, cache, batch_size)
    _finish(report, records, system, gen, out)


@app.command()
def bfcl(questions: Annotated[Path, typer.Option(help="BFCL question file (single-turn category).")],
         answers: Annotated[Optional[Path], typer.Option(help="possible_answer file (default: beside the questions).")] = None,
         checkpoint: Checkpoint = None, single: Single = False, base: Base = None, endpoint: EndpointOpt = None,
         model: ModelOpt = None, limit: Limit = None, out: Out = None, cache: Cache = None,
         batch_size: Batch = 0, name: Name = None, no_constrain: NoConstrain = False,
         no_guard: NoGuard = False, plain: Plain = False,
         max_calls: Annotated[int, typer.Option(help="Most calls one episode may make.", min=1)] = 6) -> None:
    """BFCL AST accuracy (simple, multiple, parallel, parallel_multiple, irrelevance)."""
    system, out, cache = _prepare("bfcl", checkpoint, single, base, endpoint, model, name, out, cache,
                                  runtime_options(no_constrain, False, no_guard, False, plain, None))
    with _bad_input():
        report, records, gen = bfcl_bench.run(Items([questions, answers], [questions], limit), system, cache,
                                              batch_size, max_calls=max_calls)
    _finish(report, records, system, gen, out)


@app.command()
def passrate(data: Annotated[Path, typer.Option(help="Trajectories whose tasks are run: out/synth/trajectories.jsonl "
                                                "(held-out families) or DATA/trajectories/test.jsonl.")],
             checkpoint: Checkpoint = None, single: Single = False, base: Base = None, endpoint: EndpointOpt = None,
             model: ModelOpt = None, limit: Limit = None, out: Out = None, cache: Cache = None, name: Name = None,
             families: Annotated[str, typer.Option(help="held_out: the task families held out of training "
                                                   "(meta.split == 'test'); seen: the training families' tasks "
                                                   "(give a held-out file, e.g. DATA/trajectories/test.jsonl); "
                                                   "all: every task.")] = "held_out",
             max_steps: Annotated[int, typer.Option(help="Planner turns per episode.", min=1)] = AgentConfig.max_steps,
             seed: Annotated[int, typer.Option(help="Seed of the --limit sample (equal shares per task family).")] = 0,
             no_constrain: NoConstrain = False, no_retrieval: NoRetrieval = False, no_guard: NoGuard = False,
             no_grounding: NoGrounding = False, plain: Plain = False, max_tools: MaxTools = None) -> None:
    """End-to-end pass rate: the agent runs each task (one per instruction) with real tools;
    code checks the result."""
    if families not in passrate_bench.FAMILIES:
        raise typer.BadParameter(f"{families!r}; choose one of {', '.join(passrate_bench.FAMILIES)}",
                                 param_hint="--families")
    system, out, cache = _prepare(passrate_bench.benchmark_name(families), checkpoint, single, base, endpoint, model,
                                  name, out, cache,
                                  runtime_options(no_constrain, no_retrieval, no_guard, no_grounding, plain, max_tools))
    report, records, gen = passrate_bench.run(Items([data], [data], limit, {"seed": seed}), system, cache,
                                              families=families, max_steps=max_steps)
    _finish(report, records, system, gen, out)


@app.command()
def taubench(data: Annotated[Optional[Path], typer.Option(help="tau-bench task file (default: the retail dev tasks, "
                                                           "tasks_dev.py, under the data root).")] = None,
             checkpoint: Checkpoint = None, single: Single = False, base: Base = None, endpoint: EndpointOpt = None,
             model: ModelOpt = None, limit: Limit = None, out: Out = None, cache: Cache = None, name: Name = None,
             max_steps: Annotated[int, typer.Option(help="Planner turns per episode.", min=1)] = TAU_MAX_STEPS,
             max_tools: Annotated[Optional[int], typer.Option(help="Offer the K most relevant retail tools "
                                                              "(default: all, as tau-bench).", min=1)] = None,
             no_constrain: NoConstrain = False, no_guard: NoGuard = False, no_grounding: NoGrounding = False,
             plain: Plain = False) -> None:
    """tau-bench retail: the agent plays each task over a fresh copy of the store's database;
    it passes when the database ends as the gold actions leave it."""
    system = _system(checkpoint, single, base, endpoint, model, name,
                     runtime_options(no_constrain, max_tools is None, no_guard, no_grounding, plain, max_tools))
    out, cache = _paths("taubench", system.name, out, cache)
    with _bad_input():
        report, records = evaluate_taubench(data, system, limit=limit, cache=cache, max_steps=max_steps)
    _finish(report, records, system, None, out)


@app.command()
def compare(runs: Annotated[list[Path], typer.Argument(help="JSON reports written by `umi eval ...`.")],
            out: Annotated[Optional[Path], typer.Option(help="Write <out>.md and <out>.png too.")] = None) -> None:
    """Put several runs side by side (alpha-UMi, single-LLM, the untrained base)."""
    try:
        typer.echo(compare_runs(runs, out))
    except (OSError, ValueError) as e:
        raise typer.BadParameter(str(e)) from None


@app.command()
def paired(results: Annotated[Path, typer.Argument(help="A suite's output folder (with <benchmark>-<system>.items.jsonl files).")],
           a: Annotated[str, typer.Option("--a", help="First system.")] = "alpha-umi",
           b: Annotated[str, typer.Option("--b", help="Second system.")] = "single",
           benchmarks: Annotated[Optional[str], typer.Option(help="Comma-separated; default: every benchmark both systems ran.")] = None,
           resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=100)] = 4000,
           out: Annotated[Optional[Path], typer.Option(help="Write <out>.json and <out>.md (default: <results>/paired-<a>-vs-<b>).")] = None,
           b_results: Annotated[Optional[Path], typer.Option("--b-results", help="The second system's suite folder, when it is another run (e.g. --plain).")] = None) -> None:
    """Two systems on the same items: each figure's difference with a 95% bootstrap interval."""
    names = [n.strip() for n in benchmarks.split(",") if n.strip()] if benchmarks else None
    label_a, label_b = (a, b) if b_results is None else (f"{a} ({results.name})", f"{b} ({b_results.name})")
    default = results / (f"paired-{a}-vs-{b}" if b_results is None else f"paired-vs-{b_results.name}")
    try:
        rows, faults, paths = pair.compare_runs((label_a, results, a), (label_b, b_results or results, b),
                                                out or default, names, resamples)
    except (OSError, ValueError) as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(pair.markdown(rows, label_a, label_b, resamples))
    if faults:
        typer.echo(pair.faults_markdown(faults))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command()
def failures(results: Annotated[Path, typer.Argument(help="A suite's output folder (with <benchmark>-<system>.items.jsonl files).")],
             system: Annotated[str, typer.Option(help="Whose items are classified.")] = "alpha-umi",
             out: Annotated[Optional[Path], typer.Option(help="Write <out>.md and <out>.json (default: <results>/failures, "
                                                             "failures-<system> for another system).")] = None,
             data_root: Annotated[Optional[Path], typer.Option(help="Where the reports' data paths are found "
                                                                   "(default: the checkout).")] = None) -> None:
    """Every failed item sorted into a category (format, repeated call, wrong tool, ...) per benchmark and group."""
    try:
        analysis = fail.analyse(results, system, data_root)
    except (OSError, ValueError) as e:
        raise typer.BadParameter(str(e)) from None
    paths = fail.write(analysis, out or results / ("failures" if system == "alpha-umi" else f"failures-{system}"))
    typer.echo(fail.markdown(analysis))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command()
def suite(checkpoint: Annotated[Path, typer.Option(help="Trained checkpoint folder (with manifest.json).")],
          data: Annotated[Path, typer.Option(help="Output of `umi data build` (its trajectories/test.jsonl is sampled).")],
          out: Annotated[Path, typer.Option(help="Run folder: one report per (benchmark, system), caches, "
                                                 "results.md/json/png, suite.json.")],
          limit_static: Annotated[Optional[int], typer.Option(help="Test trajectories, sampled by source.", min=1)] = None,
          limit_passrate: Annotated[Optional[int], typer.Option(help="Tasks per pass-rate benchmark (passrate_seen, passrate).", min=1)] = None,
          limit_bfcl: Annotated[Optional[int], typer.Option(help="Questions per BFCL category.", min=1)] = None,
          limit_apibench: Annotated[Optional[int], typer.Option(help="APIBench torchhub questions.", min=1)] = None,
          limit_taubench: Annotated[Optional[int], typer.Option(help="tau-bench retail dev tasks (of 20).", min=1)] = None,
          systems: Annotated[Optional[str], typer.Option(help="Comma-separated, of: alpha-umi, single, base "
                                                              "(default: all).")] = None,
          benchmarks: Annotated[Optional[str], typer.Option(help=f"Comma-separated, of: {', '.join(BENCHMARKS)} "
                                                                 "(default: all but the extra BFCL categories and "
                                                                 "APIBench hubs).")] = None,
          synth: Annotated[Optional[Path], typer.Option(help="Synthesized trajectories for the held-out families' pass "
                                                             "rate (default: out/synth/trajectories.jsonl if it exists)."
                                                        )] = None,
          seed: Annotated[int, typer.Option(help="Seed of the static and pass-rate samples.")] = 0,
          batch_size: Batch = 0, no_constrain: NoConstrain = False, no_retrieval: NoRetrieval = False,
          no_guard: NoGuard = False, no_grounding: NoGrounding = False, plain: Plain = False,
          max_tools: MaxTools = None) -> None:
    """The whole results table for one checkpoint (alpha-UMi, single-LLM, untrained base), resumable."""
    try:
        cfg = SuiteConfig(checkpoint=checkpoint, data=data, out=out,
                          systems=parse_names(systems, SYSTEMS, "systems"),
                          benchmarks=parse_names(benchmarks, tuple(BENCHMARKS), "benchmarks", default=DEFAULT),
                          chosen=benchmarks is not None,
                          limit_static=limit_static, limit_passrate=limit_passrate, limit_bfcl=limit_bfcl,
                          limit_apibench=limit_apibench, limit_taubench=limit_taubench, synth=synth, data_root=data_root(), seed=seed,
                          batch_size=batch_size, command=command_line(),
                          agent=runtime_options(no_constrain, no_retrieval, no_guard, no_grounding, plain, max_tools))
        result = run_suite(cfg)
    except (SuiteError, DataError, CheckpointError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e)) from None
    except ValueError as e:  # e.g. a synthesized file without held-out tasks; finished runs are kept
        raise typer.BadParameter(f"{e} (finished runs are kept in {out}; rerun to resume)") from None
    typer.echo("\n" + result["table"])
    written = [out / n for n in ("results.md", "results.json", "results.png", "suite.json") if (out / n).exists()]
    typer.echo("wrote " + ", ".join(str(p) for p in written))
