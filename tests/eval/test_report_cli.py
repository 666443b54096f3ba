"""Reports (JSON, Markdown, PNG, items) and the `umi eval` commands, with a scripted system."""

import json

import pytest
from eval_helpers import BFCL, needs_data
from typer.testing import CliRunner

from multiagentllm.eval import systems
from multiagentllm.eval.cli import app
from multiagentllm.eval.generate import System
from multiagentllm.eval.report import compare, markdown, write_report

REPORT = {"benchmark": "static", "system": "alpha-umi", "n": 2, "plan_acc": 0.5, "act_em": 1.0, "hallu": 0.0,
          "arg_f1": None, "rouge_l": 0.25, "groups": {"G1": {"n": 1, "plan_acc": 1.0}}, "bad_items": 1}


def test_write_report_and_compare(tmp_path):
    paths = write_report(REPORT, [{"id": "t0"}], tmp_path / "a.json")
    assert json.loads(paths["json"].read_text())["plan_acc"] == 0.5
    md = paths["markdown"].read_text()
    assert "| all | 2 | 50.0 | 100.0 | 0.0 | – | 25.0 |" in md and "| G1 | 1 | 100.0 |" in md
    assert paths["chart"].read_bytes()[:4] == b"\x89PNG"
    assert paths["items"].read_text().strip() == '{"id": "t0"}'
    other = dict(REPORT, system="single", plan_acc=0.25)
    write_report(other, [], tmp_path / "b.json")
    table = compare([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "cmp")
    assert "| static | alpha-umi | 2 | 50.0" in table and "| static | single | 2 | 25.0" in table
    assert (tmp_path / "cmp.png").exists() and (tmp_path / "cmp.md").read_text() == table
    assert "Bad input items (reported, not scored): 1" in markdown(REPORT)


def test_compare_rejects_what_is_not_a_report(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an evaluation report"):
        compare([bad])
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "missing.json")])
    assert result.exit_code != 0 and "no such report" in result.output


@needs_data
def test_cli_bfcl_run_writes_every_artifact_and_resumes(tmp_path, scripted, monkeypatch):
    llm = scripted(lambda role, p: "Rationale: nothing fits\nNext: Give up")
    monkeypatch.setattr(systems, "load_system", lambda *a, **k: System(llm, k.get("single", False), "scripted"))
    out = tmp_path / "bfcl.json"
    args = ["bfcl", "--questions", str(BFCL / "BFCL_v4_irrelevance.json"), "--limit", "4", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["accuracy"] == 1.0 and report["n"] == 4 and report["system"] == "scripted"
    assert report["generation"] == {"generated": 4, "reused": 0}
    assert (tmp_path / "bfcl.md").exists() and (tmp_path / "bfcl.png").exists()
    assert (tmp_path / "bfcl.cache.jsonl").exists()
    result = CliRunner().invoke(app, args)
    assert json.loads(out.read_text())["generation"] == {"generated": 0, "reused": 4}


def test_cli_rejects_conflicting_model_options():
    result = CliRunner().invoke(app, ["static", "--data", "x.jsonl", "--base", "embedded", "--endpoint", "http://h/v1"])
    assert result.exit_code != 0 and "not both" in result.output
    result = CliRunner().invoke(app, ["static", "--data", "x.jsonl", "--endpoint", "http://h/v1"])
    assert result.exit_code != 0 and "--model" in result.output
