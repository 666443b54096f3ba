"""The server around a real transformers backend: a tiny random Llama with three role LoRA
adapters, loaded by `load_llm` as `umi serve --checkpoint` does. What the server returns must be
exactly what the backend generates in process (the worker thread, batching and HTTP change
nothing), and the runtime's OpenAI backend must see the same texts through the server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

torch = pytest.importorskip("torch")

from fastapi.testclient import TestClient  # noqa: E402

from multiagentllm.models import load_llm  # noqa: E402
from multiagentllm.models.backends import Endpoint, OpenAIBackend  # noqa: E402
from multiagentllm.roles import planner  # noqa: E402
from multiagentllm.serve import ServeConfig, ServerThread, create_app  # noqa: E402
from tiny_llama import random_lora, tiny_base, write_manifest  # noqa: E402

CORPUS = ["<s> add 2 and 3 </s>\nRationale: I need the add tool.\nNext: Caller\n",
          'Action: add\nAction Input: {"a": 2, "b": 3}\nObservation: 5\n', "Answer:\nThe result is 5."]
PROMPTS = ["<s> add 2 and 3 </s>\nRationale:", "Action: add\nAction Input: {", "Observation: 5\nAnswer:\n"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny base with three role adapters directly on it (no stage 1)."""
    root = tmp_path_factory.mktemp("tiny-trio")
    base = root / "base"
    tiny_base(base, CORPUS)
    for seed, role in enumerate(("planner", "caller", "summarizer"), 1):
        random_lora(base, root / role, seed=seed)
    write_manifest(root, base, dict.fromkeys(("planner", "caller", "summarizer"), "base"), stage1=None)
    return root


@pytest.fixture(scope="module")
def expected(checkpoint) -> dict[str, list[str]]:
    """What the backend generates in process, one prompt at a time."""
    llm = load_llm(checkpoint)
    return {role: [llm.complete([p], role=role, max_new_tokens=12, stop=[])[0] for p in PROMPTS]
            for role in ("planner", "caller", "summarizer")}


def test_served_completions_equal_in_process_generation(checkpoint, expected, registry):
    assert expected["planner"] != expected["caller"]  # the adapters differ, so the test can fail
    app = create_app(lambda: load_llm(checkpoint), registry, config=ServeConfig(request_timeout=60))
    with TestClient(app) as c:
        for _ in range(500):
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.02)
        for role, texts in expected.items():
            body = c.post("/v1/completions", json={"model": role, "prompt": PROMPTS, "max_tokens": 12}).json()
            assert [ch["text"] for ch in body["choices"]] == texts
        episode = c.post("/v1/chat/completions", json={
            "model": "alpha-umi", "max_steps": 2, "messages": [{"role": "user", "content": "add 2 and 3"}]}).json()
        assert episode["umi"]["status"] in ("solved", "given_up", "max_steps", "format_error", "token_limit")
        assert c.get("/health").json()["generations"] >= 9


def test_the_runtime_backend_sees_the_same_texts_through_the_server(checkpoint, expected, registry):
    app = create_app(load_llm(checkpoint), registry)
    with ServerThread(app) as url:
        backend = OpenAIBackend(Endpoint(f"{url}/v1", "{role}"))
        try:
            for role, texts in expected.items():
                assert backend.complete(PROMPTS, role=role, max_new_tokens=12, stop=[]) == texts
        finally:
            backend.close()


@pytest.mark.slow
def test_umi_serve_with_a_checkpoint(checkpoint, expected):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "multiagentllm.cli", "serve", "--checkpoint", str(checkpoint),
                             "--port", str(port), "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(1200):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = httpx.post(f"{url}/v1/completions", json={"model": "caller", "prompt": PROMPTS, "max_tokens": 12},
                          timeout=120).json()
        assert [ch["text"] for ch in body["choices"]] == expected["caller"]
        prompt = planner.prompt("add 2 and 3", [], [])
        served = httpx.post(f"{url}/v1/chat/completions", json={
            "model": "planner", "messages": [{"role": "user", "content": "add 2 and 3"}], "tool_choice": "none"},
            timeout=120).json()
        assert served["umi"]["raw"] == load_llm(checkpoint).complete(
            [prompt], role="planner", max_new_tokens=planner.MAX_NEW_TOKENS, stop=planner.STOP)[0]
    finally:
        proc.terminate()
        proc.wait(10)
