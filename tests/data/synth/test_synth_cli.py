"""`umi data synth` end to end on a small N: files, card figures, readable by the trajectory reader."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.io import read_trajectories


def test_synth_command_writes_trajectories_stats_and_card(tmp_path):
    out = tmp_path / "synth"
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--n", "120", "--seed", "5", "--real", ""])
    assert result.exit_code == 0, result.output
    trajs = list(read_trajectories(out / "trajectories.jsonl"))
    stats = json.loads((out / "stats.json").read_text())
    assert len(trajs) == stats["trajectories"] == 120
    assert sum(stats["outcomes"].values()) == 120 and sum(stats["by_split"].values()) == 120
    assert stats["rejects"] is not None and stats["run"]["seed"] == 5
    card = (out / "card.md").read_text()
    assert "trajectories: **120**" in card and "## Examples" in card
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_synth_command_rejects_unknown_real_source(tmp_path):
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path), "--n", "1", "--real", "nope"])
    assert result.exit_code != 0 and "unknown real source" in result.output
