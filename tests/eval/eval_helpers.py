"""Shared fixtures for the evaluation tests: the shared-data root and a scripted LLM."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(os.environ.get("UMI_DATA_ROOT", Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"))
GORILLA = DATA / "gorilla"
BFCL = GORILLA / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"
needs_data = pytest.mark.skipif(not GORILLA.exists(), reason="shared datasets not available")


class ScriptedLLM:
    """Answers each prompt with `respond(role, prompt)`; records every call (batch sizes too)."""

    def __init__(self, respond: Callable[[str, str], str]):
        self.respond = respond
        self.calls: list[tuple[str, int]] = []
        self.prompts: list[tuple[str, str]] = []

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int, stop: list[str]) -> list[str]:
        assert max_new_tokens > 0 and isinstance(stop, list)
        self.calls.append((role, len(prompts)))
        self.prompts.extend((role, p) for p in prompts)
        return [self.respond(role, p) for p in prompts]


@pytest.fixture
def scripted():
    return ScriptedLLM
