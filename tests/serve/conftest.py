"""Fixtures for tests/serve: defined in serve_helpers.py, which test modules import by that unique name."""

from serve_helpers import *  # noqa: F401,F403
