import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.data import builders
from multiagentllm.data.build import build
from multiagentllm.io import DataError, read_trajectories

FIX = "tests/fixtures/trajectories.jsonl"


def test_build_from_synthetic_file(tmp_path):
    """Training reads the multi-span rows; the per-step rows are written only when asked, and are
    then the same rows as before (the builders' output, counted in stats.json)."""
    report = build(tmp_path / "out", sources=[], synthetic=[Path(FIX)], tokenizer=None)
    out = tmp_path / "out"
    for name in ("global", "planner", "caller", "summarizer", "single"):
        for split in ("train", "dev", "test"):
            assert not (out / name / f"{split}.jsonl").exists()
            assert (out / name / f"{split}.seq.jsonl").exists()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["trajectories_after_dedup"] == 2 == report.counts["trajectories_after_dedup"]
    assert stats["step_rows"] is False and set(stats["rows"]["planner"]["train"]) == {"seq_rows"}

    build(tmp_path / "steps", sources=[], synthetic=[Path(FIX)], tokenizer=None, step_rows=True)
    for name in ("global", "planner", "caller", "summarizer", "single"):
        for split in ("train", "dev", "test"):
            seq = tmp_path / "steps" / name / f"{split}.seq.jsonl"
            assert seq.read_bytes() == (out / name / f"{split}.seq.jsonl").read_bytes()
            trajs = list(read_trajectories(tmp_path / "steps" / "trajectories" / f"{split}.jsonl"))
            rows = [json.loads(line) for line in open(tmp_path / "steps" / name / f"{split}.jsonl")]
            assert rows == [r for t in trajs for r in builders.STEP_ROWS[name](t)]
    stats = json.loads((tmp_path / "steps" / "stats.json").read_text())
    total_planner = sum(stats["rows"]["planner"][s]["step_rows"]["total"] for s in ("train", "dev", "test"))
    assert total_planner == 4  # 3 planner steps + 1 give-up step


def test_build_rejects_bad_rows_unless_skipped(tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = open(FIX).read().splitlines()
    bad.write_text(lines[0] + "\n" + lines[1].replace('"give_up"', '"finish"') + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: steps\[0\]\.next is 'finish'"):
        build(tmp_path / "out", sources=[], synthetic=[bad], tokenizer=None)
    assert not (tmp_path / "out" / "stats.json").exists()
    report = build(tmp_path / "out", sources=[], synthetic=[bad], tokenizer=None, skip_bad=True)
    assert report.counts["skipped_bad"] == 1 and report.counts["trajectories_after_dedup"] == 1


def test_cli_unknown_source(tmp_path):
    result = CliRunner().invoke(app, ["data", "build", "--out", str(tmp_path), "--sources", "nope", "--tokenizer", "none"])
    assert result.exit_code != 0
    assert "unknown source" in result.output


def test_duplicate_trajectories_are_removed(tmp_path):
    report = build(tmp_path / "o", sources=[], synthetic=[Path(FIX), Path(FIX)], tokenizer=None)
    assert report.counts["trajectories_loaded"] == 4 and report.counts["trajectories_after_dedup"] == 2
