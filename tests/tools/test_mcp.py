"""Tools from MCP servers (stdio and streamable HTTP), and `umi mcp` serving the tool library:
schemas mapped or skipped by name, errors and dead or silent servers as observations, never a hang."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multiagentllm.cli import app
from multiagentllm.tools import ToolRegistry, default_registry
from multiagentllm.tools.mcp import MCPError, MCPWarning, connect

pytest.importorskip("mcp")

SERVER = f"{sys.executable} {Path(__file__).resolve().parents[1] / 'fixtures' / 'mcp_test_server.py'}"
UMI_MCP = f"{sys.executable} -m multiagentllm.cli mcp"


@pytest.fixture
def test_server():
    registry = ToolRegistry(default_timeout=2.0)
    with pytest.warns(MCPWarning, match="tool 'broken' skipped"):
        conn = connect(SERVER, registry)
    yield registry, conn
    conn.close()


def test_server_tools_become_registry_tools(test_server):
    registry, conn = test_server
    assert conn.label == "test-server"
    assert registry.names == ["add", "refuse", "hang", "die"]  # 'broken' skipped, with a warning naming it
    assert registry.toolset("mcp:test-server") == registry.names
    add = registry.get("add").schema
    assert add["parameters"]["required"] == ["a", "b"] and add["description"] == "Add two integers."
    obs = registry.call("add", {"a": 2, "b": 3})
    assert obs.ok and json.loads(obs.content) == {"sum": 5}  # structured content wins over the text
    # the registry checks arguments before anything is sent
    bad = registry.call("add", {"a": "two", "b": 3})
    assert not bad.ok and "must be integer" in bad.error
    refused = registry.call("refuse", {})
    assert not refused.ok and refused.error == "no such account"


def test_a_hanging_tool_times_out_and_the_server_stays_usable(test_server):
    registry, _ = test_server
    start = time.monotonic()
    obs = registry.call("hang", {})
    assert not obs.ok and "timed out" in obs.error and time.monotonic() - start < 6
    assert registry.call("add", {"a": 1, "b": 1}).ok


def test_a_server_that_dies_is_an_observation_then_a_clear_end(test_server):
    registry, _ = test_server
    died = registry.call("die", {})
    assert not died.ok and "test-server" in died.error
    start = time.monotonic()
    later = registry.call("add", {"a": 1, "b": 2})
    assert not later.ok and "test-server" in later.error and time.monotonic() - start < 3


@pytest.mark.parametrize("spec,message", [
    ("/nonexistent/mcp-server", "could not be started or reached"),
    (f"{sys.executable} -c pass", "could not be started or reached"),  # exits at once
])
def test_servers_that_cannot_start(spec, message):
    start = time.monotonic()
    with pytest.raises(MCPError, match=message):
        connect(spec, ToolRegistry(), connect_timeout=10)
    assert time.monotonic() - start < 10


def test_a_server_that_answers_garbage_fails_within_the_deadline():
    garbage = f"{sys.executable} -c \"import time; print('hello, not json', flush=True); time.sleep(60)\""
    start = time.monotonic()
    with pytest.raises(MCPError):
        connect(garbage, ToolRegistry(), connect_timeout=3)
    assert time.monotonic() - start < 8


def test_umi_mcp_serves_the_library_over_stdio():
    builtin = default_registry()
    registry = ToolRegistry(default_timeout=10)
    conn = connect(UMI_MCP, registry)
    try:
        assert sorted(registry.names) == sorted(builtin.names)
        assert registry.get("resolve_date").schema == builtin.get("resolve_date").schema  # the same schema both ways
        obs = registry.call("resolve_date", {"expression": "next Tuesday"})
        assert obs.ok and obs.content == builtin.call("resolve_date", {"expression": "next Tuesday"}).content
        flights = json.loads(registry.call("search_flights", {"origin": "New York", "destination": "Los Angeles",
                                                              "date": "2024-06-11"}).content)
        booked = registry.call("book_flight", {"flight_id": flights["flights"][0]["flight_id"], "passenger": "Ada"})
        pnr = json.loads(booked.content)["pnr"]
        assert json.loads(registry.call("get_booking", {"reference": pnr}).content)["name"] == "Ada"  # one world
        # an error of the library's own tool arrives as an error observation
        unknown = registry.call("get_booking", {"reference": "NOPE00"})
        assert not unknown.ok
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_umi_mcp_over_streamable_http():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "multiagentllm.cli", "mcp", "--http", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.3)
        registry = ToolRegistry(default_timeout=10)
        conn = connect(f"http://127.0.0.1:{port}/mcp", registry)
        try:
            assert "calculate" in registry
            assert json.loads(registry.call("calculate", {"expression": "17 * 23"}).content)["result"] == 391
        finally:
            conn.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_umi_run_reports_a_server_that_cannot_start():
    result = CliRunner().invoke(app, ["run", "What is 2+2?", "--mcp", "/nonexistent/mcp-server"])
    assert result.exit_code == 2 and "could not be started" in " ".join(result.output.split())
    empty = CliRunner().invoke(app, ["run", "What is 2+2?", "--no-builtin"])
    assert empty.exit_code == 2 and "no tools to offer" in " ".join(empty.output.split())
