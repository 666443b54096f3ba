"""Fixtures for tests/agent: defined in agent_helpers.py, which test modules import by that unique name."""

from agent_helpers import *  # noqa: F401,F403
