"""`umi eval suite`: every (system, benchmark) report, the results table, resuming, and bad input.

One test runs the real path end to end on a tiny random checkpoint (three role adapters and a
single-LLM adapter on a stage-1 backbone); the others drive the same suite with scripted systems,
which count every generation, so resuming and recomputing can be asserted exactly."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from eval_helpers import ScriptedLLM, synth_test_tasks
from typer.testing import CliRunner

from multiagentllm.eval import systems
from multiagentllm.eval.cli import app
from multiagentllm.eval.generate import System
from multiagentllm.eval.sampling import equal_shares, stratified_sample
from multiagentllm.eval.benchmarks import BENCHMARKS, DEFAULT, Benchmark, Items, Where
from multiagentllm.eval.benchmarks.static import SAMPLE
from multiagentllm.eval.episodes import POLICY
from multiagentllm.eval.suite import columns
from multiagentllm.paths import portable
from multiagentllm.roles import caller, planner, summarizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories.jsonl"
SOURCES = ("apibank", "synthetic", "toolbench")
RUN = tuple(b for b in DEFAULT if b != "taubench")  # the datasets root of `inputs` has no tau-bench
TRIANGLE = {"name": "calculate_triangle_area", "description": "Area of a triangle.",
            "parameters": {"type": "dict", "required": ["base", "height"],
                           "properties": {"base": {"type": "integer", "description": "The base."},
                                          "height": {"type": "integer", "description": "The height."}}}}
FACTORIAL = {"name": "math.factorial", "description": "Factorial of a number.",
             "parameters": {"type": "dict", "required": ["number"],
                            "properties": {"number": {"type": "integer", "description": "The number."}}}}
RESNET = "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)"
DEEPLAB = "torch.hub.load(repo_or_dir='pytorch/vision', model='deeplabv3_resnet50', pretrained=True)"


def _jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _question(item_id: str, text: str, functions: list[dict]) -> dict:
    return {"id": item_id, "question": [[{"role": "user", "content": text}]], "function": functions}


def _torchhub(instruction: str, api_call: str, domain: str) -> dict:
    return {"code": f"###Instruction: {instruction}\n###Output: {{'api_call': \"{api_call}\"}}", "api_call": api_call,
            "provider": "PyTorch", "api_data": {"domain": domain, "framework": "PyTorch", "api_call": api_call,
                                                "api_arguments": {"pretrained": "True"}, "description": domain}}


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """DATA/trajectories/test.jsonl (9 trajectories, 3 sources, and 2 synthesized tasks of the
    training families), a datasets root with 2-question
    BFCL files (and answers) and a 2-question APIBench torchhub split, and synthesized tasks."""
    base = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line.strip()]
    weather, give_up = base  # 3 steps (planner, caller, summarizer turns); 1 step (a give-up)
    test = [dict(weather if i == 2 else give_up, id=f"{source}-{i}", source=source)
            for source in SOURCES for i in range(3)]
    seen = [dict(t, source="synthetic") for t in synth_test_tasks(2, held_out=False)]  # new instructions, known families
    data = tmp_path / "data"
    _jsonl(data / "trajectories" / "test.jsonl", test + seen)
    root = tmp_path / "datasets"
    bfcl = root / "gorilla" / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
    _jsonl(bfcl / "BFCL_v4_simple_python.json", [
        _question("simple_python_0", "Area of a triangle with base 10 and height 5?", [TRIANGLE]),
        _question("simple_python_1", "What is the factorial of 5?", [FACTORIAL])])
    _jsonl(bfcl / "possible_answer" / "BFCL_v4_simple_python.json", [
        {"id": "simple_python_0", "ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5]}}]},
        {"id": "simple_python_1", "ground_truth": [{"math.factorial": {"number": [5]}}]}])
    _jsonl(bfcl / "BFCL_v4_multiple.json", [
        _question("multiple_0", "What is the factorial of 6?", [TRIANGLE, FACTORIAL]),
        _question("multiple_1", "Area of a triangle with base 4 and height 3?", [FACTORIAL, TRIANGLE])])
    _jsonl(bfcl / "possible_answer" / "BFCL_v4_multiple.json", [
        {"id": "multiple_0", "ground_truth": [{"math.factorial": {"number": [6]}}]},
        {"id": "multiple_1", "ground_truth": [{"calculate_triangle_area": {"base": [4], "height": [3]}}]}])
    _jsonl(bfcl / "BFCL_v4_irrelevance.json", [  # no answers: making no call is right
        _question("irrelevance_0", "Who wrote Hamlet?", [TRIANGLE])])
    _jsonl(root / "gorilla" / "data" / "apibench" / "torchhub_eval.json", [
        _torchhub("Classify photos of dogs.", RESNET, "Classification"),
        _torchhub("Segment the objects in a street photo.", DEEPLAB, "Semantic Segmentation")])
    synth = _jsonl(tmp_path / "synth.jsonl", synth_test_tasks(2))
    monkeypatch.setenv("UMI_DATA_ROOT", str(root))
    monkeypatch.chdir(tmp_path)  # no out/synth/trajectories.jsonl here unless a test writes one
    return {"data": data, "root": root, "synth": synth, "out": tmp_path / "run"}


def _invoke(args: list[str], monkeypatch) -> str:
    argv = ["umi", "eval", "suite", *args]
    monkeypatch.setattr(sys, "argv", argv)
    result = CliRunner().invoke(app, argv[2:])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _fails(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["suite", *args], env={"COLUMNS": "1000"})  # no wrapped error lines
    assert result.exit_code != 0
    return result.output


def _row(table: str, system: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {system} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


# --- sampling ------------------------------------------------------------------------------------

def test_equal_shares_give_what_a_small_source_cannot_take_to_the_others():
    assert equal_shares({"a": 1, "b": 10, "c": 10}, 7) == {"a": 1, "b": 3, "c": 3}
    assert equal_shares({"a": 1, "b": 10, "c": 10}, 8) == {"a": 1, "b": 3, "c": 4}
    assert equal_shares({"a": 2, "b": 2}, 10) == {"a": 2, "b": 2}


def test_stratified_sample_covers_every_source_is_seeded_and_keeps_file_order():
    rows = [{"id": i, "source": "big"} for i in range(90)] + [{"id": 90 + i, "source": s} for i, s in
                                                              enumerate(["small"] * 5 + ["tiny"] * 2)]
    sample = stratified_sample(rows, 12, seed=0)
    by_source = {s: sum(r["source"] == s for r in sample) for s in ("big", "small", "tiny")}
    assert by_source == {"big": 5, "small": 5, "tiny": 2}
    assert [r["id"] for r in sample] == sorted(r["id"] for r in sample)
    assert stratified_sample(rows, 12, seed=0) == sample
    assert stratified_sample(rows, 12, seed=1) != sample
    assert stratified_sample(rows, None, seed=0) == rows


# --- the real path on a tiny checkpoint -----------------------------------------------------------

def test_suite_on_a_tiny_checkpoint_writes_everything_then_reuses_and_recomputes(tiny_checkpoint, inputs,
                                                                                 monkeypatch):
    for role in (planner, caller, summarizer):  # a random model never stops early: short turns keep this fast
        monkeypatch.setattr(role, "MAX_NEW_TOKENS", 24)
    out = inputs["out"]
    args = ["--checkpoint", str(tiny_checkpoint), "--data", str(inputs["data"]), "--out", str(out),
            "--synth", str(inputs["synth"]), "--limit-static", "3", "--limit-passrate", "1",
            "--limit-bfcl", "1", "--limit-apibench", "1"]
    output = _invoke(args, monkeypatch)
    for system in ("alpha-umi", "single", "base"):
        for bench in RUN:
            stem = f"{bench}-{system}"
            for suffix in (".json", ".md", ".png", ".items.jsonl"):
                assert (out / (stem + suffix)).exists(), stem + suffix
            assert len(list(out.glob(f"{stem}.cache-*.jsonl"))) == 1, stem
            report = json.loads((out / f"{stem}.json").read_text())
            assert report["system"] == system and report["benchmark"] == bench and report["settings"]["model"]
            assert f"▶ {system} · {bench}" in output
    assert "taubench: skipped" in output and "tasks_dev.py not found" in output
    sample = (out / SAMPLE).read_bytes()
    recipe = json.loads((out / SAMPLE.replace(".jsonl", ".json")).read_text())
    assert recipe["path"] == portable(inputs["data"] / "trajectories" / "test.jsonl") and recipe["n"] == 3
    assert sorted(json.loads(line)["source"] for line in sample.splitlines()) == sorted(SOURCES)

    table = (out / "results.md").read_text()
    assert [c.strip() for c in table.split("\n| system |")[1].split("\n")[0].strip("|").split("|")] == \
        [label for *_, label in columns()]
    for system in ("alpha-umi", "single", "base"):
        cells = _row(table, system)
        assert len(cells) == len(columns()) and all(re.fullmatch(r"\d+\.\d", c) for c in cells[:-1]), cells
        assert cells[-1] == "–"  # tau-bench: skipped
    assert _row(table, "alpha-umi") == _row(output, "alpha-umi")  # printed at the end
    results = json.loads((out / "results.json").read_text())
    assert results["systems"]["single"]["runs"]["static"]["plan_acc"] is not None
    assert set(results["systems"]["base"]["runs"]["bfcl_simple"]) >= {"n", "accuracy", "groups"}
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    suite = json.loads((out / "suite.json").read_text())
    assert suite["command"].startswith("umi eval suite --checkpoint") and suite["complete"]
    assert suite["manifest"] == json.loads((tiny_checkpoint / "manifest.json").read_text())
    assert suite["settings"]["limit_static"] == 3 and suite["version"]
    assert set(suite["timings"]["alpha-umi"]) == {"load", *RUN}

    def must_not_load(*a, **k):
        raise AssertionError("a finished suite must not load a model")

    load_system = systems.load_system
    monkeypatch.setattr(systems, "load_system", must_not_load)
    output = _invoke(args, monkeypatch)
    assert output.count("finished earlier with these settings, reused") == 3 * len(RUN)
    assert (out / SAMPLE).read_bytes() == sample and (out / "results.md").read_text() == table

    monkeypatch.setattr(systems, "load_system", load_system)
    output = _invoke([*args, "--limit-static", "4", "--systems", "alpha-umi"], monkeypatch)
    assert "alpha-umi · static: limit 3 -> 4; recomputing" in output
    assert output.count("reused") == len(RUN) - 1
    report = json.loads((out / "static-alpha-umi.json").read_text())
    assert report["n"] == 4 and report["settings"]["limit"] == 4
    assert report["generation"]["reused"] > 0  # the trajectories of the first sample were cached
    assert "| single |" not in (out / "results.md").read_text()


# --- resuming, settings, missing roles, bad input (scripted systems) -------------------------------

def _respond(role: str, prompt: str) -> str:
    if prompt.endswith("Next: Caller\n"):
        return 'Action: math.factorial\nAction Input: {"number": 5}'
    if prompt.endswith("Answer:\n"):
        return "It is sunny."
    if "Observation" in prompt:
        return "Rationale: done\nNext: Summarizer"
    return "Rationale: look it up\nNext: Caller"


@pytest.fixture
def scripted_ckpt(tmp_path, monkeypatch) -> tuple[Path, ScriptedLLM]:
    """A checkpoint folder with the trio's adapters but no single-LLM one yet; loading any of
    its systems gives a scripted LLM that counts every generation."""
    root = tmp_path / "ckpt"
    for name in ("stage1_backbone", "planner", "caller", "summarizer"):
        (root / name).mkdir(parents=True)
        (root / name / "adapter_model.safetensors").write_bytes(name.encode())
    (root / "manifest.json").write_text(json.dumps({
        "format": "lora", "base": "embedded", "stage1": "stage1_backbone",
        "roles": {r: {"path": r, "on": "stage1"} for r in ("planner", "caller", "summarizer")}}))
    llm = ScriptedLLM(_respond)
    monkeypatch.setattr(systems, "load_system", lambda *a, **k: System(llm, k.get("single", False), k["name"]))
    return root, llm


def test_missing_role_is_not_trained_and_a_killed_run_resumes_from_its_cache(scripted_ckpt, inputs, monkeypatch):
    ckpt, llm = scripted_ckpt
    out = inputs["out"]
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(out), "--limit-static", "3"]
    output = _invoke(args, monkeypatch)
    assert "single: skipped" in output
    assert "has no single model yet (trained roles: caller, planner, summarizer)" in output
    assert "passrate: skipped" in output and str(Path("out/synth/trajectories.jsonl")) in output
    table = (out / "results.md").read_text()
    assert _row(table, "single") == ["not trained"] * len(columns())
    assert _row(table, "alpha-umi")[6] == "–"  # pass rate (new families): skipped, the reason is under the table
    assert "passrate: skipped" in table and "single: not trained" in table
    assert not list(out.glob("*-single.*"))
    results = json.loads((out / "results.json").read_text())
    assert results["systems"]["single"]["status"] == "not trained" and "passrate" in results["skipped_benchmarks"]
    assert set(results["systems"]["base"]["runs"]) == {"static", "passrate_seen", "bfcl_simple", "bfcl_multiple",
                                                       "bfcl_irrelevance", "apibench_torchhub"}

    calls = len(llm.prompts)
    (out / "static-alpha-umi.json").unlink()  # killed after generating, before the report was written
    output = _invoke(args, monkeypatch)
    assert len(llm.prompts) == calls  # everything came from the cache
    report = json.loads((out / "static-alpha-umi.json").read_text())
    assert report["generation"]["generated"] == 0 and report["generation"]["reused"] > 0
    assert output.count("reused") == 2 * 6 - 1  # two systems, six benchmarks (passrate skipped), static recomputed

    (ckpt / "planner" / "adapter_model.safetensors").write_bytes(b"retrained")
    output = _invoke([*args, "--systems", "alpha-umi", "--benchmarks", "static"], monkeypatch)
    assert "alpha-umi · static: model changed; recomputing" in output and "(other weights or decoding)" in output
    assert json.loads((out / "static-alpha-umi.json").read_text())["generation"]["reused"] == 0
    assert len(list(out.glob("static-alpha-umi.cache-*.jsonl"))) == 1

    # a code change to how a turn is generated (here a new stop string) makes reports and caches stale
    calls = len(llm.prompts)
    monkeypatch.setattr(caller, "STOP", [*caller.STOP, "\nThought:"])
    output = _invoke([*args, "--systems", "alpha-umi", "--benchmarks", "static,bfcl_simple"], monkeypatch)
    assert "alpha-umi · static: decoding changed; recomputing" in output
    assert "alpha-umi · bfcl_simple: model changed, decoding changed; recomputing" in output  # never rerun since
    assert len(llm.prompts) > calls  # generated again, not read from the old cache
    assert "alpha-umi · passrate_seen" not in output  # the other benchmarks were not asked for
    assert json.loads((out / "static-alpha-umi.json").read_text())["generation"]["reused"] == 0
    assert len(list(out.glob("static-alpha-umi.cache-*.jsonl"))) == 1

    report = json.loads((out / "static-alpha-umi.json").read_text())  # as an older version wrote it
    del report["settings"]["decoding"]
    (out / "static-alpha-umi.json").write_text(json.dumps(report))
    output = _invoke([*args, "--systems", "alpha-umi", "--benchmarks", "static"], monkeypatch)
    assert "alpha-umi · static: decoding not recorded; recomputing" in output


def test_unknown_names_and_missing_inputs_are_clear_errors(scripted_ckpt, inputs, tmp_path, monkeypatch):
    ckpt, _ = scripted_ckpt
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(inputs["out"])]
    output = _fails([*args, "--systems", "alpha-umi,trio"])
    assert "'trio'" in output and "alpha-umi, single, base" in output
    output = _fails([*args, "--benchmarks", "static,mmlu"])
    assert "'mmlu'" in output and ", ".join(BENCHMARKS) in output
    assert "test.jsonl not found" in _fails(["--checkpoint", str(ckpt), "--data", str(tmp_path / "nodata"),
                                             "--out", str(inputs["out"])])
    assert "no manifest.json" in _fails(["--checkpoint", str(tmp_path), *args[2:]])
    assert "missing.jsonl not found" in _fails([*args, "--synth", str(tmp_path / "missing.jsonl")])
    train_only = [dict(t, meta={**t["meta"], "split": "train"}) for t in synth_test_tasks(1)]
    output = _fails([*args, "--benchmarks", "passrate", "--synth", str(_jsonl(tmp_path / "train.jsonl", train_only))])
    assert "train.jsonl: no playable tasks of the held-out families" in output and "rerun to resume" in output
    # a file the default list would read is skipped with its reason; one that was asked for is an error
    (inputs["root"] / "gorilla" / "data" / "apibench" / "torchhub_eval.json").unlink()
    assert "torchhub_eval.json not found" in _fails([*args, "--benchmarks", "apibench_torchhub"])
    output = _invoke([*args, "--systems", "base", "--limit-static", "1"], monkeypatch)
    assert "apibench_torchhub: skipped" in output and "torchhub_eval.json not found" in output



def test_items_the_checkpoint_trained_on_stop_the_suite_before_any_generation(scripted_ckpt, inputs, tmp_path,
                                                                               monkeypatch):
    """A stage's config.yaml names the build it trained on; an evaluated instruction in that build's
    training split is an error naming the benchmark, the build and the item, and nothing is generated."""
    ckpt, llm = scripted_ckpt
    test = [json.loads(line) for line in (inputs["data"] / "trajectories" / "test.jsonl").read_text().splitlines()]
    build = tmp_path / "build"
    _jsonl(build / "trajectories" / "train.jsonl", [dict(t, id="other") for t in test[-1:]])  # a seen-family task
    (ckpt / "planner" / "config.yaml").write_text(f"stage: stage2_planner\ndata: {build}\n")
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(inputs["out"]),
            "--systems", "alpha-umi", "--synth", str(inputs["synth"])]
    output = _fails(args)
    assert "static: 1 of its items" in output  # the first benchmark reading the test split
    assert f"training split of {portable(build)}" in output and repr(test[-1]["instruction"][:60]) in output
    assert not llm.prompts

    _jsonl(build / "trajectories" / "train.jsonl", [dict(test[0], id="x", instruction="Something else entirely.")])
    output = _invoke([*args, "--benchmarks", "passrate,passrate_seen", "--limit-passrate", "1"], monkeypatch)
    assert f"items checked unseen: no instruction in the training split of {portable(build)}" in output


# --- the registry: the suite knows no benchmark by name -----------------------------------------

def test_a_registered_benchmark_is_found_run_reused_and_given_its_columns(scripted_ckpt, inputs, monkeypatch):
    """One `Benchmark` added to the registry is all the suite needs: it is run when named (not
    by default), written, reused on a rerun, recomputed when its data changes, and has a column."""
    ckpt, llm = scripted_ckpt
    items = _jsonl(inputs["root"] / "toy.jsonl", [{"q": "a"}, {"q": "b"}, {"q": "c"}])
    runs = []

    def find(where: Where, limit: int | None) -> Items:
        return Items([where.root / "toy.jsonl"], [where.root / "toy.jsonl"], limit)

    def run(found: Items, system, cache, batch_size):
        rows = [json.loads(line) for line in found.inputs[0].read_text().splitlines()][: found.limit]
        runs.append(len(rows))
        records = [{"id": r["q"], "valid": r["q"] != "b"} for r in rows]
        return {"n": len(records), "accuracy": sum(r["valid"] for r in records) / len(records)}, records, None

    monkeypatch.setitem(BENCHMARKS, "toy", Benchmark("toy", "bfcl", (("accuracy", "Toy accuracy"),), find, run,
                                                     default=False))
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(inputs["out"]),
            "--systems", "alpha-umi", "--limit-bfcl", "2"]
    output = _invoke([*args, "--benchmarks", "static,toy"], monkeypatch)
    assert "▶ alpha-umi · toy" in output and runs == [2]
    report = json.loads((inputs["out"] / "toy-alpha-umi.json").read_text())
    assert report["accuracy"] == 0.5 and report["settings"]["limit"] == 2 and report["benchmark"] == "toy"
    table = (inputs["out"] / "results.md").read_text()
    assert table.splitlines()[4].endswith("| tau-bench retail (dev) | Toy accuracy |")
    assert _row(table, "alpha-umi")[-1] == "50.0"

    _invoke([*args, "--benchmarks", "toy"], monkeypatch)
    assert runs == [2]  # reused
    _jsonl(items, [{"q": "a"}, {"q": "c"}])
    assert "alpha-umi · toy: data changed; recomputing" in _invoke([*args, "--benchmarks", "toy"], monkeypatch)
    assert runs == [2, 2]
    output = _invoke([*args, "--limit-static", "1"], monkeypatch)  # the default benchmarks: not the toy
    assert "toy" not in output and "Toy accuracy" not in (inputs["out"] / "results.md").read_text()


def test_extra_bfcl_categories_run_only_when_named(scripted_ckpt, inputs, monkeypatch):
    ckpt, _ = scripted_ckpt
    assert {"bfcl_parallel", "bfcl_parallel_multiple", "apibench_huggingface"} <= set(BENCHMARKS) - set(DEFAULT)
    assert DEFAULT == ("static", "passrate_seen", "passrate", "bfcl_simple", "bfcl_multiple", "bfcl_irrelevance",
                       "apibench_torchhub", "taubench")
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(inputs["out"]),
            "--systems", "alpha-umi", "--benchmarks", "bfcl_parallel"]
    assert "BFCL_v4_parallel.json not found" in _fails(args)
    bfcl = inputs["root"] / "gorilla" / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
    _jsonl(bfcl / "BFCL_v4_parallel.json", [_question("parallel_0", "Factorials of 5 and 6?", [FACTORIAL])])
    _jsonl(bfcl / "possible_answer" / "BFCL_v4_parallel.json", [
        {"id": "parallel_0", "ground_truth": [{"math.factorial": {"number": [5]}}, {"math.factorial": {"number": [6]}}]}])
    _invoke(args, monkeypatch)
    report = json.loads((inputs["out"] / "bfcl_parallel-alpha-umi.json").read_text())
    assert report["n"] == 1 and report["groups"] == {"parallel": {"n": 1, "accuracy": 0.0}}  # one of two calls
    results = json.loads((inputs["out"] / "results.json").read_text())
    assert {"benchmark": "bfcl_parallel", "figure": "accuracy", "label": "BFCL parallel"} in results["columns"]


def test_judged_call_benchmarks_name_their_episode_loop_so_older_reports_are_recomputed(scripted_ckpt, inputs,
                                                                                       monkeypatch):
    ckpt, _ = scripted_ckpt
    out = inputs["out"]
    args = ["--checkpoint", str(ckpt), "--data", str(inputs["data"]), "--out", str(out), "--systems", "alpha-umi",
            "--benchmarks", "static,bfcl_simple,apibench_torchhub"]
    _invoke(args, monkeypatch)
    for bench in ("bfcl_simple", "apibench_torchhub"):
        assert json.loads((out / f"{bench}-alpha-umi.json").read_text())["settings"]["version"] == POLICY
    assert "version" not in json.loads((out / "static-alpha-umi.json").read_text())["settings"]
    caches = {p.name.split(".cache-")[0]: p.name.split(".cache-")[1] for p in out.glob("*.cache-*.jsonl")}
    assert caches["bfcl_simple-alpha-umi"] != caches["static-alpha-umi"]  # the static name is as before

    report = json.loads((out / "bfcl_simple-alpha-umi.json").read_text())  # as the separate loop wrote it
    del report["settings"]["version"]
    (out / "bfcl_simple-alpha-umi.json").write_text(json.dumps(report))
    output = _invoke(args, monkeypatch)
    assert "alpha-umi · bfcl_simple: version not recorded; recomputing" in output
    assert output.count("finished earlier with these settings, reused") == 2
