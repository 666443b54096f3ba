"""Which engine `load_llm` picks (`engine_for`): llama.cpp on a CPU for a LoRA checkpoint of the
embedded base, torch otherwise; a missing native build falls back with one warning naming it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from multiagentllm.checkpoint import CheckpointError, Manifest, RoleEntry
from multiagentllm.models.backends import llamacpp
from multiagentllm.models.backends.checkpoint import engine_for, engine_label


def _manifest(base: str = "embedded", single_on: str = "base") -> Manifest:
    roles = {r: RoleEntry(Path(r), "stage1") for r in ("planner", "caller", "summarizer")}
    roles["single"] = RoleEntry(Path("single"), single_on)
    return Manifest(Path("/ckpt"), "lora", base, None, Path("stage1"), roles)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr("multiagentllm.models.backends.checkpoint._cuda", lambda: False)
    monkeypatch.delenv("UMI_ENGINE", raising=False)


def test_auto_takes_llama_cpp_for_the_embedded_trio_when_installed(no_gpu, monkeypatch):
    monkeypatch.setattr(llamacpp, "available", lambda: None)
    assert engine_for(_manifest()) == ("llamacpp", None)
    assert engine_label(_manifest()) == "llamacpp-float16"
    # the single baseline sits on other weights than the exported backbone: torch
    assert engine_for(_manifest(), single=True)[0] == "torch"
    assert engine_for(_manifest(single_on="stage1"), single=True)[0] == "llamacpp"
    for kw in ({"dtype": "float32"}, {"device": "cuda"}, {"separate": True}):
        assert engine_for(_manifest(), **kw)[0] == "torch"
    assert engine_for(_manifest(base="/models/tinyllama"))[0] == "torch"
    assert engine_for(_manifest(), engine="torch") == ("torch", "asked for")
    monkeypatch.setenv("UMI_ENGINE", "torch")
    assert engine_for(_manifest())[0] == "torch"


def test_a_missing_native_build_falls_back_with_one_clear_warning(no_gpu, monkeypatch):
    monkeypatch.setattr(llamacpp, "available", lambda: "ImportError: No module named 'llama_cpp'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        name, reason = engine_for(_manifest())
    assert name == "torch" and "llama_cpp" in reason
    assert len(caught) == 1 and "slower torch runner" in str(caught[0].message)
    with pytest.raises(CheckpointError, match="llama.cpp engine cannot run it.*llama_cpp"):
        engine_for(_manifest(), engine="llamacpp")


def test_an_unknown_engine_is_refused(no_gpu):
    with pytest.raises(ValueError, match="engine 'vllm'"):
        engine_for(_manifest(), engine="vllm")
