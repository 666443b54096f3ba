"""`umi eval paired`: two systems on the same items, differences with bootstrap intervals."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.eval import paired
from multiagentllm.eval.benchmarks.static import summarize


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _static_rows(seed, n_traj=20, skill=0.5):
    rng = random.Random(seed)
    rows = []
    for t in range(n_traj):
        for step in range(3):
            rows.append({"id": f"t{t}", "step": step, "turn": "planner", "plan_acc": float(rng.random() < skill)})
            rows.append({"id": f"t{t}", "step": step, "turn": "caller", "act_em": float(rng.random() < skill),
                         "hallu": 0.0, "arg_f1": rng.random()})
        rows.append({"id": f"t{t}", "step": 3, "turn": "summarizer", "rouge_l": rng.random() * skill})
    return rows


def test_figures_match_the_evaluator_and_the_interval_brackets_the_difference(tmp_path):
    a, b = _static_rows(1, skill=0.9), _static_rows(2, skill=0.2)
    rows = paired.compare("static", _write(tmp_path / "a.jsonl", a), _write(tmp_path / "b.jsonl", b))
    want_a, want_b = summarize(a), summarize(b)
    by = {r.figure: r for r in rows}
    assert set(by) == {"plan_acc", "act_em", "hallu", "arg_f1", "rouge_l"}
    for fig, r in by.items():
        assert r.a == pytest.approx(want_a[fig]) and r.b == pytest.approx(want_b[fig])
        assert r.diff == pytest.approx(r.a - r.b)
        assert r.low <= r.diff <= r.high
    assert by["plan_acc"].n == 60 and by["plan_acc"].clusters == 20  # steps resampled by trajectory
    assert by["plan_acc"].low > 0  # 90% against 20%: clearly better
    assert by["hallu"].diff == by["hallu"].low == by["hallu"].high == 0.0


def test_identical_systems_differ_by_nothing(tmp_path):
    rows = [{"id": f"q{i}", "passed": i % 3 == 0} for i in range(30)]
    a = _write(tmp_path / "a.jsonl", rows)
    (r,) = paired.compare("passrate_seen", a, _write(tmp_path / "b.jsonl", rows))
    assert (r.figure, r.n, r.diff, r.low, r.high, r.a_better, r.b_better) == ("pass_rate", 30, 0, 0, 0, 0, 0)
    assert "*" not in paired.markdown([r], "x", "y").splitlines()[2]


def test_a_small_sample_gives_a_wide_interval_and_counts_discordant_items(tmp_path):
    a = [{"id": f"q{i}", "passed": i < 5} for i in range(30)]   # 5 of 30
    b = [{"id": f"q{i}", "passed": 3 <= i < 6} for i in range(30)]  # 3 of 30, two shared
    (r,) = paired.compare("passrate", _write(tmp_path / "a.jsonl", a), _write(tmp_path / "b.jsonl", b))
    assert (r.a_better, r.b_better) == (3, 1)
    assert r.diff == pytest.approx(2 / 30) and r.low < 0 < r.high  # 5 vs 3 of 30 is not a finding


def test_apibench_and_bfcl_records(tmp_path):
    a = [{"id": "1", "status": "correct"}, {"id": "2", "status": "hallucination"}, {"id": "3", "status": "wrong"}]
    b = [{"id": "1", "status": "wrong"}, {"id": "2", "status": "no_answer"}, {"id": "3", "status": "wrong"}]
    rows = paired.compare("apibench_torchhub", _write(tmp_path / "a.jsonl", a), _write(tmp_path / "b.jsonl", b))
    assert {r.figure: (round(r.a, 3), r.b) for r in rows} == {"accuracy": (0.333, 0.0), "hallucination": (0.333, 0.0)}
    bf = [{"id": "x", "valid": True}, {"id": "y", "valid": False}]
    (r,) = paired.compare("bfcl_multiple", _write(tmp_path / "c.jsonl", bf), _write(tmp_path / "d.jsonl", bf[::-1]))
    assert r.figure == "accuracy" and r.diff == 0


def test_bad_input_names_the_file_and_line(tmp_path):
    good = _write(tmp_path / "good.jsonl", [{"id": "q1", "passed": True}, {"id": "q2", "passed": False}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "passed": true}\n{"id": "q2", "passed": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a passrate item record"):
        paired.compare("passrate", good, bad)
    other = _write(tmp_path / "other.jsonl", [{"id": "q1", "passed": True}, {"id": "q9", "passed": True}])
    with pytest.raises(ValueError, match="different items.*1 only in the first, 1 only in the second"):
        paired.compare("passrate", good, other)
    with pytest.raises(ValueError, match="no paired comparison"):
        paired.compare("toolbench", good, good)


def test_cli_compares_every_shared_benchmark_and_refuses_a_missing_system(tmp_path):
    _write(tmp_path / "static-alpha-umi.items.jsonl", _static_rows(1, skill=0.9))
    _write(tmp_path / "static-single.items.jsonl", _static_rows(2, skill=0.3))
    _write(tmp_path / "passrate-alpha-umi.items.jsonl", [{"id": "q", "passed": True}])
    _write(tmp_path / "passrate-single.items.jsonl", [{"id": "q", "passed": False}])
    _write(tmp_path / "bfcl_simple-alpha-umi.items.jsonl", [{"id": "q", "valid": True}])  # single did not run it
    res = CliRunner().invoke(app, ["eval", "paired", str(tmp_path), "--resamples", "200"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "paired-alpha-umi-vs-single.json").read_text())
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in report["rows"]))
    assert benchmarks == ["static", "passrate"] and report["resamples"] == 200  # the suite's order, not the alphabet
    assert "| static | Plan ACC |" in (tmp_path / "paired-alpha-umi-vs-single.md").read_text()
    wide = {"COLUMNS": "1000"}  # no wrapped error lines
    res = CliRunner().invoke(app, ["eval", "paired", str(tmp_path), "--benchmarks", "bfcl_simple"], env=wide)
    assert res.exit_code == 2 and "bfcl_simple-single.items.jsonl: missing" in res.output
    res = CliRunner().invoke(app, ["eval", "paired", str(tmp_path), "--b", "base"], env=wide)
    assert res.exit_code == 2 and "no benchmark has item records for both" in res.output


def test_the_same_system_run_two_ways_is_paired_across_folders_with_its_faults(tmp_path):
    on, off = tmp_path / "runtime", tmp_path / "plain"
    for folder, passed, faults in ((on, [True, True, False], 0), (off, [True, False, False], 4)):
        folder.mkdir()
        _write(folder / "passrate-alpha-umi.items.jsonl", [{"id": f"q{i}", "passed": p} for i, p in enumerate(passed)])
        (folder / "passrate-alpha-umi.json").write_text(json.dumps({
            "n": 3, "statuses": {"solved": 2, "needs_input": 1 - bool(faults)},
            "faults": {"caller_outputs": 9, "invalid_json": faults, "not_offered": 0, "missing_required": 0,
                       "repeated_calls": faults, "repeated_failing": 1, "stuck": 0, "ungrounded": 0}}))
    res = CliRunner().invoke(app, ["eval", "paired", str(on), "--b", "alpha-umi", "--b-results", str(off),
                                   "--resamples", "200"])
    assert res.exit_code == 0, res.output
    report = json.loads((on / "paired-vs-plain.json").read_text())
    assert report["a"] == "alpha-umi (runtime)" and report["b"] == "alpha-umi (plain)"
    assert [round(r["diff"], 3) for r in report["rows"]] == [0.333]
    faults = {r["run"]: r for r in report["faults"]}
    assert faults["alpha-umi (runtime)"]["invalid_json"] == 0 and faults["alpha-umi (plain)"]["invalid_json"] == 4
    assert faults["alpha-umi (runtime)"]["needs_input"] == 1
    md = (on / "paired-vs-plain.md").read_text()
    assert "| passrate | alpha-umi (plain) | 3 | 9 | 4 |" in md and "invalid JSON" in md


def test_a_registered_benchmark_is_paired_by_its_own_keys(tmp_path, monkeypatch):
    """`paired` asks the registry: a benchmark's own figures, item key and cluster key; a name
    the suite does not register is read as its family's kin."""
    from multiagentllm.eval.benchmarks import BENCHMARKS, Benchmark

    def figures(r):
        return {"accuracy": float(r["score"] > 0.5)}

    toy = Benchmark("toy", "toy", (("accuracy", "Toy"),), find=None, run=None, item_figures=figures,
                    item_key=lambda r: (r["doc"], r["q"]), cluster_key=lambda r: r["doc"])
    monkeypatch.setitem(BENCHMARKS, "toy", toy)
    a = [{"doc": d, "q": q, "score": 0.9} for d in ("x", "y") for q in (1, 2)]
    b = [{**r, "score": 0.1 if r["doc"] == "x" else 0.9} for r in a]
    (r,) = paired.compare("toy", _write(tmp_path / "a.jsonl", a), _write(tmp_path / "b.jsonl", b))
    assert (r.n, r.clusters, r.a, r.b, r.a_better, r.b_better) == (4, 2, 1.0, 0.5, 2, 0)
    (live,) = paired.compare("toy_live", _write(tmp_path / "c.jsonl", a), _write(tmp_path / "d.jsonl", a))
    assert live.benchmark == "toy_live" and live.diff == 0
    with pytest.raises(ValueError, match=r"d\.jsonl:1: not a toy item record \(KeyError"):
        paired.compare("toy", _write(tmp_path / "c.jsonl", a), _write(tmp_path / "d.jsonl", [{"doc": "x"}]))
