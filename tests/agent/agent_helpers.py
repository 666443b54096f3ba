"""Real tools for the agent tests: the built-in registry plus two tools that fail on purpose."""

from __future__ import annotations

import json
import re
import time

import pytest

from multiagentllm.tools import default_registry, tool


@tool(domain="testing")
def explode(reason: str) -> str:
    """A tool that always raises, to check that a crashing tool becomes an observation.

    Args:
        reason: Text put into the exception.
    """
    raise RuntimeError(f"kaboom: {reason}")


@tool(domain="testing")
def nap(seconds: float) -> str:
    """A tool that sleeps, to check timeouts.

    Args:
        seconds: How long to sleep.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # pure Python, so the registry's interrupt stops it
        time.sleep(0.01)
    return "rested"


@pytest.fixture
def registry():
    reg = default_registry(timeout=5.0)
    reg.register(explode)
    reg.register(nap)
    return reg


def last_observation(prompt: str) -> dict:
    """The JSON of the last `Observation:` line of a rendered prompt (what the model just read)."""
    lines = re.findall(r"^Observation: (.*)$", prompt, flags=re.M)
    assert lines, "the prompt has no observation"
    return json.loads(lines[-1])
