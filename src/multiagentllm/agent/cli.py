"""`umi run`: run the alpha-UMi agent on one request."""

from __future__ import annotations


def run(query: str) -> None:
    """Run the agent on QUERY (not implemented yet)."""
    raise SystemExit("umi run: not implemented yet")
