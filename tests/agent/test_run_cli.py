"""`umi run` end to end: bad input gets a clear error and exit code, and a full episode runs against
an OpenAI-compatible endpoint (a scripted server on loopback) with live output and --save."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import typer
from typer.testing import CliRunner

from multiagentllm.agent.cli import run
from multiagentllm.types import Trajectory

app = typer.Typer()
app.command()(run)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("args, code, message", [
    ([""], 2, "the query is empty"),
    (["x" * 4001], 2, "4001 characters long"),
    (["Book a flight", "--tools", "spaceships"], 2, "unknown tool set 'spaceships'"),
    (["Book a flight", "--backend", "carrier-pigeon"], 2, "unknown backend 'carrier-pigeon'"),
    (["Book a flight", "--backend", "openai"], 2, "needs --base-url"),
    (["Book a flight", "--backend", "openai", "--base-url", "planner=,caller=x"], 2, "expected VALUE or ROLE=VALUE"),
])
def test_bad_input_is_a_clear_error(args, code, message):
    result = invoke(*args)
    assert result.exit_code == code
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_untrained_default_says_how_to_train(monkeypatch, tmp_path):
    from multiagentllm.models.backends import checkpoint

    monkeypatch.setattr(checkpoint, "repo_checkpoints", lambda: tmp_path)
    result = invoke("Book me a flight")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "has not been trained yet" in text and "umi train glpft" in text


SCRIPT = {
    "planner": ["Rationale: Find out which date next Tuesday is.\nNext: Caller",
                "Rationale: I know the date now.\nNext: Summarizer"],
    "caller": ['Action: resolve_date\nAction Input: {"expression": "next Tuesday"}'],
    "summarizer": ["Next Tuesday is 2024-06-11."],
}


class _Scripted(BaseHTTPRequestHandler):
    outputs: dict[str, list[str]] = {}

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = self.outputs[body["model"]].pop(0)
        data = json.dumps({"choices": [{"index": 0, "text": text}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    _Scripted.outputs = {k: list(v) for k, v in SCRIPT.items()}
    httpd = HTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("per_role", [False, True])
def test_an_episode_through_an_openai_endpoint(endpoint, tmp_path, per_role):
    out = tmp_path / "episode.json"
    flags = ["--base-url", endpoint]
    if per_role:  # one endpoint and model name per role
        flags = ["--base-url", f"planner={endpoint},*={endpoint}",
                 "--model", "planner=planner,caller=caller,summarizer=summarizer"]
    result = invoke("What date is next Tuesday?", "--backend", "openai", *flags,
                    "--tools", "calendar", "--save", str(out))
    assert result.exit_code == 0, result.output
    for shown in ("Find out which date next Tuesday is.", "resolve_date", '"2024-06-11"',
                  "Next Tuesday is 2024-06-11.", "status: solved"):
        assert shown in result.output
    traj = Trajectory.from_dict(json.loads(out.read_text()))
    assert traj.answer == "Next Tuesday is 2024-06-11." and traj.meta["toolset"] == "calendar"
    assert all(not v for v in _Scripted.outputs.values())  # every scripted turn was used


def test_an_unsolved_episode_exits_3(endpoint):
    _Scripted.outputs["planner"] = ["Rationale: Nothing here can do that.\nNext: Give up"]
    result = invoke("Order a pizza", "--backend", "openai", "--base-url", endpoint)
    assert result.exit_code == 3 and "status: given_up" in result.output
