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
    assert "trajectories: **120**" in card and "## Examples" in card and "--recipe" not in card
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_synth_command_rejects_unknown_real_source(tmp_path):
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path), "--n", "1", "--real", "nope"])
    assert result.exit_code != 0 and "unknown real source" in result.output


def test_synth_command_v2_recipe_and_unknown_recipe(tmp_path):
    out = tmp_path / "v2"
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--n", "150", "--seed", "5", "--real", "",
                                      "--recipe", "v2"])
    assert result.exit_code == 0, result.output
    trajs = list(read_trajectories(out / "trajectories.jsonl"))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["run"]["recipe"] == "v2"
    assert "`umi data synth --n 150 --seed 5 --recipe v2`" in (out / "card.md").read_text()  # rerunnable as written
    assert any(t.meta.get("family") == "composed" for t in trajs)
    assert any(t.meta.get("family") == "irrelevant" for t in trajs)
    bad = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path / "x"), "--n", "5", "--recipe", "v9"])
    assert bad.exit_code != 0 and "unknown recipe 'v9'" in bad.output
    assert not (tmp_path / "x").exists()
