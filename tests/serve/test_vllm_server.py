"""The server-process helper the vLLM test and benchmarks share: its vLLM command line, and
starting, waiting for and stopping a real process (a tiny `http.server` stands in for vLLM)."""

import sys
from pathlib import Path

import pytest

from multiagentllm.export import ExportResult
from multiagentllm.serve.vllm_server import ServerError, free_port, http_server, vllm_command


def test_the_vllm_command_serves_the_backbone_with_each_role_adapter(tmp_path):
    export = ExportResult(out=tmp_path, roles={"planner": tmp_path / "a/planner", "caller": tmp_path / "a/caller"},
                          backbone=tmp_path / "backbone", max_rank=12)
    cmd = vllm_command(export, port=8123, python="py", prefix_caching=False, max_num_seqs=4)
    assert cmd[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    flags = {flag: value for flag, value in zip(cmd, cmd[1:]) if flag.startswith("--")}
    assert flags["--model"] == str(tmp_path / "backbone") and flags["--max-lora-rank"] == "16"
    assert flags["--port"] == "8123" and flags["--max-loras"] == "2" and flags["--max-num-seqs"] == "4"
    assert f"planner={tmp_path / 'a/planner'}" in cmd and "--no-enable-prefix-caching" in cmd
    with pytest.raises(ValueError, match="merged role models"):
        vllm_command(ExportResult(out=tmp_path, roles={}), port=1)


def test_a_server_is_waited_for_and_stopped(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(tmp_path)]
    (tmp_path / "ready").write_text("yes")
    with http_server(cmd, url=f"http://127.0.0.1:{port}", ready="/ready", log=tmp_path / "log", timeout=60) as server:
        assert server.process.poll() is None and server.rss_mb() > 0
    assert server.process.poll() is not None


def test_a_server_that_exits_names_its_last_error(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('ValueError: no such model'); sys.exit(3)"]
    with pytest.raises(ServerError, match=r"exited with status 3 .*ValueError: no such model"):
        with http_server(cmd, url="http://127.0.0.1:9", ready="/", log=Path(tmp_path) / "log", timeout=60):
            pass
