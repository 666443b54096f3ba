from pathlib import Path

import pytest

from multiagentllm.io import read_trajectories

FIXTURES = Path(__file__).parent / "fixtures"
DATA_ROOT = (Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets").resolve()


@pytest.fixture
def trajectories():
    return list(read_trajectories(FIXTURES / "trajectories.jsonl"))


@pytest.fixture
def weather_traj(trajectories):
    return trajectories[0]


@pytest.fixture
def data_root():
    if not DATA_ROOT.exists():
        pytest.skip(f"public datasets not found at {DATA_ROOT}")
    return DATA_ROOT
