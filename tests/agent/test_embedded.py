"""The agent on a real trained checkpoint (slow: needs `checkpoints/cpu-demo` or UMI_CHECKPOINT)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from multiagentllm.agent import STATUSES, Agent, AgentConfig
from multiagentllm.types import Trajectory

CKPT = Path(os.environ.get("UMI_CHECKPOINT") or
            Path(__file__).resolve().parents[2] / "checkpoints" / "cpu-demo")


@pytest.mark.slow
@pytest.mark.skipif(not (CKPT / "manifest.json").exists(), reason=f"no trained checkpoint at {CKPT}")
def test_an_episode_completes_on_a_trained_checkpoint(tmp_path):
    from multiagentllm.models import load_llm
    from multiagentllm.tools import default_registry

    path = tmp_path / "episode.json"
    agent = Agent(load_llm(CKPT), default_registry(), AgentConfig(max_steps=6), save_path=path)
    result = agent.run("Book me a flight from New York to Los Angeles next Tuesday", toolset="travel")
    assert result.status in STATUSES
    record = json.loads(path.read_text())
    Trajectory.from_dict(record, check_complete=result.status in ("solved", "given_up"))
    assert record["meta"]["status"] == result.status
