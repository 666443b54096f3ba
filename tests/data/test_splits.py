from dataclasses import replace

import pytest

from multiagentllm.data.splits import assign_splits, instruction_key
from multiagentllm.types import Trajectory


def make(i: int, instruction: str | None = None, source: str = "s", split: str | None = None) -> Trajectory:
    return Trajectory(id=f"t{i}", instruction=instruction or f"question number {i}", tools=[], steps=[],
                      answer="a", source=source, meta={"split": split} if split else {})


def test_deterministic_and_by_instruction():
    trajs = [make(i) for i in range(2000)]
    trajs += [replace(make(5000 + i, instruction=f"QUESTION   number {i}"), id=f"v{i}") for i in range(200)]
    a, b = assign_splits(trajs), assign_splits(list(reversed(trajs)))
    assert {k: sorted(t.id for t in v) for k, v in a.items()} == {k: sorted(t.id for t in v) for k, v in b.items()}
    seen = {}
    for split, group in a.items():
        for t in group:
            key = instruction_key(t.instruction)
            assert seen.setdefault(key, split) == split, "an instruction crossed splits"
    assert 60 < len(a["test"]) < 160 and 60 < len(a["dev"]) < 160


def test_forced_split_pulls_whole_instruction_group():
    trajs = [make(1, "same q"), make(2, "same q", split="test"), make(3, "other", source="bench")]
    out = assign_splits(trajs, forced={"bench": "test"})
    assert sorted(t.id for t in out["test"]) == ["t1", "t2", "t3"]


def test_bad_split_name():
    with pytest.raises(ValueError, match="unknown split 'eval'"):
        assign_splits([make(1, split="eval")])
