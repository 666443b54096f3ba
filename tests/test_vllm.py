"""vLLM on CPU serving the shipped trio (marked `vllm`: `make vllm` first, then
`pytest -m vllm tests/test_vllm.py`; about 2 minutes). The float32 export is served with the three
role adapters as multi-LoRA on loopback, and an episode through it must equal the in-process
runtime's, step for step and in its answer."""

import os
import socket
import subprocess
import time

import pytest

from multiagentllm.agent.session import build_llm, run_query
from multiagentllm.export import export_vllm
from multiagentllm.paths import repo_path

pytestmark = pytest.mark.vllm
VLLM_PYTHON = repo_path(".venv-vllm", "bin", "python")
FLIGHT = ("Book me a flight from New York to Los Angeles next Tuesday, the cheaper one, for passenger "
          "Ada Lovelace, and tell me the booking reference.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.skip("vLLM is not installed: run `make vllm`")
    out = tmp_path_factory.mktemp("export") / "vllm"
    result = export_vllm(repo_path("checkpoints", "cpu-full"), out, dtype="float32")
    port = _free_port()
    modules = [f"{r}={p}" for r, p in result.roles.items()]
    log = open(out.parent / "vllm.log", "w")
    proc = subprocess.Popen([str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model",
                             str(result.backbone), "--served-model-name", "backbone", "--dtype", "float32",
                             "--port", str(port), "--enable-lora", "--max-loras", "3", "--max-lora-rank",
                             str(result.lora_rank), "--max-model-len", "4096", "--lora-modules", *modules],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (out.parent / "vllm.log").read_text()[-3000:]
            try:
                import httpx

                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail("vLLM did not start within 300 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(30)


def test_an_episode_through_vllm_equals_the_in_process_one(vllm_url):
    served = run_query(FLIGHT, llm=build_llm(backend="openai", base_url=vllm_url, model="{role}"))
    local = run_query(FLIGHT)
    assert [s.to_dict() for s in served.trajectory.steps] == [s.to_dict() for s in local.trajectory.steps]
    assert served.answer == local.answer and served.status == local.status == "solved"
