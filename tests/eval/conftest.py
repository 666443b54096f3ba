"""Fixtures for tests/eval: defined in eval_helpers.py, which test modules import by that unique name."""

from eval_helpers import *  # noqa: F401,F403
