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


TINY_CORPUS = ["<s> add 2 and 3 </s>\nRationale: I need the add tool.\nNext: Caller\n",
               'Action: add\nAction Input: {"a": 2, "b": 3}\nObservation: 5\n', "Answer:\nThe result is 5."]


def build_tiny_checkpoint(root: Path, roles: tuple[str, ...] = ("planner", "caller", "summarizer", "single")) -> Path:
    """ROOT/ as `umi train glpft` lays it out, in seconds: a tiny random Llama base (with a
    tokenizer), a stage-1 adapter, the given role adapters, and manifest.json."""
    from tiny_llama import random_lora, tiny_base, write_manifest

    base = root / "base"
    tiny_base(base, TINY_CORPUS, max_positions=8192)
    for seed, name in enumerate(("stage1_backbone", *roles), 1):
        random_lora(base, root / name, seed=seed)
    write_manifest(root, base, {r: "base" if r == "single" else "stage1" for r in roles})
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-ckpt"))


def synth_test_tasks(n: int = 2, held_out: bool = True) -> list[dict]:
    """`n` synthesized tasks as `umi data synth` writes them: of the held-out families
    (meta.split == "test"), or with `held_out=False` of the training families."""
    from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction

    result = ChunkResult()
    chosen = [f for f in families() if (f.split == "test") == held_out]
    index = 0
    while len([r for r in result.trajectories if r["meta"].get("variant") == 0]) < n:
        play_instruction(0, index, chosen, result)
        index += 1
    return [r for r in result.trajectories if r["meta"].get("variant") == 0][:n]
