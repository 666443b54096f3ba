"""The demo's use of the shipped checkpoint, which a chain trained stage by stage fills piecewise."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from multiagentllm.demo import shipped_trio_ready


def _checkpoint(root: Path, roles: list[str]) -> Path:
    root.mkdir()
    manifest = {"format": "lora", "base": "embedded", "stage1": "stage1_backbone",
                "roles": {r: {"path": r, "on": "stage1"} for r in roles}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_a_partly_trained_shipped_trio_is_skipped_with_a_note(tmp_path):
    console = Console(record=True, width=200)
    assert not shipped_trio_ready(_checkpoint(tmp_path / "ckpt", ["planner"]), console)
    assert "caller, summarizer are not trained yet" in console.export_text()


def test_a_complete_shipped_trio_is_run(tmp_path):
    console = Console(record=True, width=200)
    assert shipped_trio_ready(_checkpoint(tmp_path / "ckpt", ["planner", "caller", "summarizer"]), console)
    assert console.export_text() == ""


def test_no_or_broken_shipped_checkpoint(tmp_path):
    console = Console(record=True, width=200)
    assert not shipped_trio_ready(tmp_path / "none", console)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{")
    assert not shipped_trio_ready(broken, console)
    assert "invalid JSON" in console.export_text()
