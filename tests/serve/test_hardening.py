"""Hostile-but-fair clients: bodies that pass every field's own limit but add up to a prompt no
model can read, text that is not Unicode, JSON nested past any sane depth, clients that leave
in the middle, bodies that never finish arriving, more connections than the server should hold.
Each is refused (or stopped) with a clear answer before it costs model work, and the server
logs one line, not a traceback."""

import logging
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from serve_helpers import RuleLLM, ask
from fastapi.testclient import TestClient

from multiagentllm.serve import ServerThread
from multiagentllm.serve.worker import Cancelled, ModelWorker, QueuedLLM

CHAT = "/v1/chat/completions"


def error_of(response, status):
    assert response.status_code == status, response.text[:500]
    return response.json()["error"]


def client_tool(i: int, params: int) -> dict:
    props = {f"field_{j}": {"type": "string", "description": f"Field {j} of form {i}, as printed on the form"}
             for j in range(params)}
    return {"type": "function", "function": {"name": f"fill_form_{i}", "description": f"Fill in form {i}.",
                                             "parameters": {"type": "object", "properties": props}}}


class Tokenizing(RuleLLM):
    """Encodes its prompts as a tokenizer does: text that is not valid Unicode fails here."""

    def complete(self, prompts, **kw):
        for p in prompts:
            p.encode("utf-8")
        return super().complete(prompts, **kw)


# --- prompts too long for the model ----------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_an_agent_prompt_over_the_limit_is_413_before_any_model_work(make_app, rule_llm, stream):
    # Each field passes its own check (instruction, messages, tool count, body size); the planner
    # prompt rendered from them, with the 5 tools retrieval keeps, is still ~40k characters.
    tools = [client_tool(i, 130) for i in range(6)]
    with TestClient(make_app(rule_llm)) as c:
        err = error_of(c.post(CHAT, json=ask("fill in the form", tools=tools, stream=stream)), 413)
        assert err["code"] == "context_length_exceeded" and "rendered planner prompt" in err["message"]
        assert rule_llm.calls == []
        assert c.get("/health").json()["queue"]["in_progress"] == 0


def test_the_prompt_is_measured_after_retrieval_trims_the_tools(make_app, rule_llm):
    tools = [client_tool(i, 14) for i in range(40)]  # all 40: ~36k characters; the 5 retrieved: ~5k
    with TestClient(make_app(rule_llm)) as c:
        reply = c.post(CHAT, json=ask("fill in form 3", tools=tools))
        assert reply.status_code == 200, reply.text[:300]
        err = error_of(c.post(CHAT, json={"model": "planner", "tools": tools,  # a role model sees all
                                          "messages": [{"role": "user", "content": "fill in form 3"}]}), 413)
        assert err["code"] == "context_length_exceeded"


# --- text that is not Unicode, JSON nested too deep ------------------------------------------

def post_raw(c, raw: str, path=CHAT):
    return c.post(path, content=raw.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("raw, param", [
    ('{"model": "alpha-umi", "messages": [{"role": "user", "content": "add 1 and 2 \\ud800"}]}',
     "messages[0].content"),
    ('{"model": "planner", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
     "messages[0].content[0].text"),
    ('{"model": "alpha-umi", "messages": [{"role": "user", "content": "add 1 and 2"}, '
     '{"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": '
     '{"name": "add", "arguments": "{\\"a\\": \\"\\\\ud83d\\"}"}}]}, '
     '{"role": "tool", "tool_call_id": "c1", "content": "3"}]}',
     "messages[1].tool_calls[0].function.arguments.a"),
    ('{"model": "caller", "prompt": "x\\udc00"}', "prompt"),
])
def test_lone_surrogates_are_400_naming_where(make_app, raw, param):
    llm = Tokenizing()
    with TestClient(make_app(llm)) as c:
        path = "/v1/completions" if '"prompt"' in raw else CHAT
        err = error_of(post_raw(c, raw, path), 400)
        assert err["param"] == param and "lone surrogate" in err["message"]
        assert err["message"].startswith(param + ":")
        assert llm.calls == []
        assert c.post(CHAT, json=ask("add 1 and 2")).status_code == 200


def nested(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize("where, raw", [
    ("tools[0].function.parameters.properties.a.default",
     '{"type": "object", "properties": {"a": {"type": "array", "default": %s}}}' % nested(300)),
    ("tools[0].function.parameters.properties.a.properties.a",
     '{"type": "object", "properties": {"a": ' * 300 + '{"type": "string"}' + "}}" * 300),
])
def test_a_client_tool_schema_nested_hundreds_of_levels_is_400(client, rule_llm, where, raw):
    body = ('{"model": "alpha-umi", "messages": [{"role": "user", "content": "add 1 and 2"}], '
            '"tools": [{"type": "function", "function": {"name": "deep", "parameters": %s}}]}' % raw)
    err = error_of(post_raw(client, body), 400)
    assert "nested more than 128 levels deep" in err["message"] and err["param"].startswith(where)
    assert rule_llm.calls == []


@pytest.mark.parametrize("depth", [300, 5000])
def test_call_arguments_nested_too_deep_are_400(client, depth):
    history = [{"role": "user", "content": "add 1 and 2"},
               {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                   "name": "add", "arguments": '{"a": %s}' % nested(depth, "1")}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "3"}]
    err = error_of(client.post(CHAT, json={"model": "alpha-umi", "messages": history}), 400)
    assert err["param"].startswith("messages[1].tool_calls[0].function.arguments")


# --- clients that leave ----------------------------------------------------------------------

class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextmanager
def server_log():
    """Every record the server and uvicorn log inside the block. Enter it after the server is
    built: building one configures uvicorn's loggers afresh."""
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("multiagentllm", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


def wait_idle(url: str, seconds: float = 10) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        health = httpx.get(f"{url}/health").json()
        if health["queue"]["in_progress"] == 0 or time.monotonic() > deadline:
            return health
        time.sleep(0.02)


def test_a_client_that_leaves_a_non_streaming_episode_cancels_it(live, make_app):
    llm = RuleLLM(delay=0.2)
    url = live(make_app(llm))
    with server_log() as records:
        with pytest.raises(httpx.ReadTimeout):  # the episode would take 5 more generations (~1 s)
            httpx.post(f"{url}{CHAT}", json=ask("loop add 1 and 2", max_steps=12), timeout=0.5)
        left_at = len(llm.calls)
        assert wait_idle(url, 3)["queue"]["in_progress"] == 0
        time.sleep(0.5)
    assert len(llm.calls) - left_at <= 1  # at most the generation already under way
    lines = [r.getMessage() for r in records]
    assert any("left; episode" in line and "cancelled" in line for line in lines), lines
    assert not any(r.exc_info for r in records)
    assert httpx.post(f"{url}{CHAT}", json=ask("add 2 and 2")).json()["choices"][0]["message"]["content"] \
        == "The result is 4."


def test_a_cancelled_episode_takes_its_queued_generation_off_the_queue():
    class Gated:
        def __init__(self):
            self.gate, self.prompts = threading.Event(), []

        def complete(self, prompts, **kw):
            self.prompts += prompts
            self.gate.wait(5)
            return ["ok"] * len(prompts)

    llm = Gated()
    worker = ModelWorker(llm)
    worker.start()
    busy = worker.submit(["first"], role="planner", max_new_tokens=4, stop=[])
    while not llm.prompts:  # the worker is generating `first`
        time.sleep(0.01)
    queued = QueuedLLM(worker, timeout=10, count_tokens=len)
    outcome = []
    waiting = threading.Thread(target=lambda: outcome.append(
        _raises(lambda: queued.complete(["second"], role="caller", max_new_tokens=4, stop=[]))))
    waiting.start()
    time.sleep(0.1)
    queued.cancelled.set()
    waiting.join(2)
    assert outcome == [Cancelled]  # without waiting for the generation in front of it
    llm.gate.set()
    busy.result(5)
    worker.stop()
    assert llm.prompts == ["first"]


def _raises(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def half_sent(host: str, port: int, path: str = CHAT) -> socket.socket:
    """A connection whose request body never finishes arriving."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 1000\r\n\r\n{\"model\": ".encode())
    return sock


def test_a_client_that_leaves_while_sending_logs_one_line(make_app):
    server = ServerThread(make_app())
    with server, server_log() as records:
        sock = half_sent(server.host, server.port)
        time.sleep(0.2)
        sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{server.url}/health").status_code == 200
    assert not any(r.exc_info for r in records), [r.getMessage() for r in records]
    lines = [r.getMessage() for r in records if "left before its request was read" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "POST /v1/chat/completions" in lines[0]


# --- slow bodies, held connections -----------------------------------------------------------

def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closes(make_app):
    server = ServerThread(make_app(read_timeout=0.3))
    with server:
        sock = half_sent(server.host, server.port)
        started = time.monotonic()
        reply = read_all(sock).decode()  # and then the server closes: the rest is not awaited
        sock.close()
    assert reply.startswith("HTTP/1.1 408") and '"code":"request_timeout"' in reply
    assert time.monotonic() - started < 3


def test_connections_beyond_the_cap_are_refused_at_once_and_health_recovers(make_app):
    server = ServerThread(make_app(max_connections=3, read_timeout=2.0))
    with server:
        held = [half_sent(server.host, server.port) for _ in range(2)]
        time.sleep(0.1)
        started = time.monotonic()  # the third connection (uvicorn counts the one asking)
        refused = httpx.get(f"{server.url}/health", timeout=5)
        assert refused.status_code == 503 and time.monotonic() - started < 1
        for sock in held:  # the read timeout answers and frees them
            assert read_all(sock).startswith(b"HTTP/1.1 408")
            sock.close()
        time.sleep(0.1)
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_health_stays_fast_while_clients_hold_connections(make_app):
    server = ServerThread(make_app(max_connections=64))
    with server:
        held = [half_sent(server.host, server.port) for _ in range(40)]
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
            latencies.append(time.monotonic() - started)
        for sock in held:
            sock.close()
    assert max(latencies) < 1.0, latencies  # the probe that found this saw 4 s with 3,000 held


def test_uvicorn_gets_the_connection_limits(make_app):
    server = ServerThread(make_app(max_connections=7, keep_alive_timeout=2, max_header_bytes=4_096))
    config = server.server.config
    assert (config.limit_concurrency, config.timeout_keep_alive, config.h11_max_incomplete_event_size) == (7, 2, 4_096)
    with server:
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"x" * 8_000)  # and no end
        assert read_all(sock).startswith(b"HTTP/1.1 400")
        sock.close()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def half_head(host: str, port: int, head: bytes = b"GET /health HTTP/1.1\r\nHost: x\r\n") -> socket.socket:
    """A connection whose request head never finishes arriving."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(head)
    return sock


def test_a_head_that_does_not_arrive_in_time_is_408_and_the_connection_closes(make_app):
    server = ServerThread(make_app(read_timeout=0.5, keep_alive_timeout=30))
    with server:
        started = time.monotonic()
        sock = half_head(server.host, server.port)
        reply = read_all(sock)
        sock.close()
        silent = socket.create_connection((server.host, server.port), timeout=10)  # sends nothing
        assert read_all(silent) == b""  # closed without a word
        silent.close()
    assert reply.startswith(b"HTTP/1.1 408") and b"head did not arrive" in reply
    assert 0.4 < time.monotonic() - started < 5


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and its content-length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_kept_alive_connection_that_starts_a_head_and_stalls_is_closed(make_app):
    server = ServerThread(make_app(read_timeout=0.5, keep_alive_timeout=30))
    with server:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        time.sleep(0.8)  # longer than the head deadline, well within keep-alive: still open
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        second = read_response(sock)
        started = time.monotonic()
        sock.sendall(b"GET /he")  # one more request, never finished
        rest = read_all(sock)
        sock.close()
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
    assert rest.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5


def test_connections_holding_half_heads_at_the_cap_are_freed_by_the_deadline(make_app):
    server = ServerThread(make_app(max_connections=3, read_timeout=0.5))
    with server:
        held = [half_head(server.host, server.port) for _ in range(2)]
        time.sleep(0.1)
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 503  # at the cap
        for sock in held:
            assert read_all(sock).startswith(b"HTTP/1.1 408")
            sock.close()
        time.sleep(0.1)
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
