"""`umi serve`: the OpenAI-compatible server."""

from __future__ import annotations


def serve() -> None:
    """Serve the agent over an OpenAI-compatible HTTP API (not implemented yet)."""
    raise SystemExit("umi serve: not implemented yet")
