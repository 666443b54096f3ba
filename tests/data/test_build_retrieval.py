"""`build(retrieve_tools=K)` / `umi data build --retrieve-tools K`: prompts offer the retrieved tools."""

import json
import re

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.data.build import build, narrow_tools
from multiagentllm.io import read_trajectories
from multiagentllm.tools import default_registry

FIX = "tests/fixtures/trajectories.jsonl"


@pytest.fixture
def crowded(weather_traj):
    """The weather fixture (it calls get_weather and convert_temperature) offering 31 tools."""
    extra = [s for s in default_registry().schemas() if s["name"] not in weather_traj.tool_names]
    weather_traj.tools = weather_traj.tools[:1] + extra + weather_traj.tools[1:]
    return weather_traj


def prompt_tools(prompt: str) -> list[str]:
    return re.findall(r"^- (\w+):", prompt, re.M)


def test_narrow_tools_keeps_called_tools_in_original_order(crowded):
    narrowed = narrow_tools(crowded, 4)
    names = narrowed.tool_names
    assert len(names) == 4 and {"get_weather", "convert_temperature"} <= set(names)
    assert names == sorted(names, key=crowded.tool_names.index)
    assert len(crowded.tools) == 31  # the original is untouched


def test_narrow_tools_is_off_for_no_k_or_few_tools(crowded, weather_traj):
    assert narrow_tools(crowded, None) is crowded and narrow_tools(crowded, 0) is crowded
    assert narrow_tools(crowded, 31) is crowded


def test_build_renders_rows_with_retrieved_tools(tmp_path, crowded, trajectories):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(t.to_json() for t in [crowded, *trajectories[1:]]) + "\n")
    report = build(tmp_path / "out", sources=[], synthetic=[src], tokenizer=None, retrieve_tools=4)
    assert report.counts["retrieve_tools"] == 4 and sum(report.counts["tools_narrowed"].values()) == 1
    out = tmp_path / "out"
    splits = ("train", "dev", "test")
    kept = [t for s in splits for t in read_trajectories(out / "trajectories" / f"{s}.jsonl") if t.id == crowded.id]
    assert len(kept) == 1 and len(kept[0].tools) == 31  # the trajectory files keep every tool
    rows = [json.loads(line) for s in splits for line in (out / "planner" / f"{s}.seq.jsonl").read_text().splitlines()]
    offered = [prompt_tools(r["text"]) for r in rows if r["traj_id"] == crowded.id]
    assert offered and all(names == narrow_tools(crowded, 4).tool_names for names in offered)


def test_build_without_the_option_offers_every_tool(tmp_path, crowded):
    src = tmp_path / "in.jsonl"
    src.write_text(crowded.to_json() + "\n")
    report = build(tmp_path / "out", sources=[], synthetic=[src], tokenizer=None)
    assert report.counts["retrieve_tools"] is None
    rows = [json.loads(line) for split in ("train", "dev", "test")
            for line in (tmp_path / "out" / "planner" / f"{split}.seq.jsonl").read_text().splitlines()]
    assert rows and all(len(prompt_tools(r["text"])) == 31 for r in rows)


def test_cli_option(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "a"), "--sources", "",
                              "--synthetic", FIX, "--tokenizer", "none", "--retrieve-tools", "-1"])
    assert bad.exit_code != 0
    ok = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "b"), "--sources", "",
                             "--synthetic", FIX, "--tokenizer", "none", "--retrieve-tools", "5", "--step-rows"])
    assert ok.exit_code == 0, ok.output
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert stats["retrieve_tools"] == 5 and stats["step_rows"] is True
    assert (tmp_path / "b" / "planner" / "train.jsonl").exists()
