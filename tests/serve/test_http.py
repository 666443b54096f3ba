"""Over real HTTP on loopback: the official openai client, the runtime's OpenAI backend running
the agent through the server from another process, a queue that fills up, a client that leaves
mid-stream, and a bounded load test (200 requests from 8 concurrent clients)."""

import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from serve_helpers import WEATHER_TOOL, RuleLLM, ask
from openai import OpenAI

from multiagentllm.agent.loop import Agent
from multiagentllm.models.backends import Endpoint, OpenAIBackend


def test_the_openai_client_works_unchanged(live, make_app):
    url = live(make_app())
    client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["alpha-umi", "planner", "caller", "summarizer"]

    reply = client.chat.completions.create(model="alpha-umi",
                                           messages=[{"role": "user", "content": "add 20 and 22"}])
    assert reply.choices[0].message.content == "The result is 42."
    assert reply.choices[0].finish_reason == "stop" and reply.usage.total_tokens > 0

    text = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="alpha-umi", messages=[{"role": "user", "content": "add 1 and 2"}], stream=True)
        if chunk.choices)
    assert text == "The result is 3."

    # a tool only the client has: the client runs it and sends the result back
    messages = [{"role": "user", "content": "weather in Lima"}]
    first = client.chat.completions.create(model="alpha-umi", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Lima"}
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18 C, cloudy"}]
    final = client.chat.completions.create(model="alpha-umi", messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == "The result is 18 C, cloudy."

    done = client.completions.create(model="summarizer", prompt="abc", max_tokens=8)
    assert done.choices[0].text == " cba"

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="n must be 1"):
        client.chat.completions.create(model="alpha-umi", messages=[{"role": "user", "content": "x"}], n=3)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="alpha-umi", messages=[{"role": "user", "content": "x"}],
                                       tools=[{"type": "function", "function": {"name": "bad name"}}])


@pytest.fixture
def server_process():
    """The server in a process of its own."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "rules_server.py")],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"server did not start: {url!r}"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_runtime_runs_the_agent_through_a_server_in_another_process(server_process, registry):
    backend = OpenAIBackend(Endpoint(f"{server_process}/v1", "{role}"), timeout=30)
    try:
        result = Agent(backend, registry).run("please add 40 and 2")
        assert result.status == "solved" and result.answer == "The result is 42."
        assert [s.action.to_dict() for s in result.trajectory.steps if s.action] == \
            [{"name": "add", "arguments": {"a": 40, "b": 2}}]
        assert backend.prompt_tokens > 0 and backend.completion_tokens > 0
        single = Agent(OpenAIBackend(Endpoint(f"{server_process}/v1", "planner")), registry,
                       single_mode=True).run("add 1 and 1")
        assert single.answer == "The result is 2."  # any served model name works for any role
    finally:
        backend.close()


class Gated(RuleLLM):
    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def complete(self, prompts, **kw):
        self.gate.wait(10)
        return super().complete(prompts, **kw)


def test_a_full_queue_answers_429_and_the_server_recovers(live, make_app):
    llm = Gated()
    url = live(make_app(llm, queue_size=2))
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(httpx.post, f"{url}/v1/chat/completions", json=ask(f"add {i} and 1"),
                               timeout=20) for i in range(2)]
        for _ in range(500):
            if httpx.get(f"{url}/health").json()["queue"]["in_progress"] == 2:
                break
            time.sleep(0.01)
        full = httpx.post(f"{url}/v1/completions", json={"model": "planner", "prompt": "x"})
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        assert full.headers["retry-after"] == "1"
        client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="alpha-umi", messages=[{"role": "user", "content": "x"}])
        llm.gate.set()
        answers = [w.result().json()["choices"][0]["message"]["content"] for w in waiting]
    assert answers == ["The result is 1.", "The result is 2."]
    assert httpx.post(f"{url}/v1/chat/completions", json=ask("add 5 and 5")).status_code == 200


def test_a_client_that_leaves_mid_stream_frees_its_place(live, make_app):
    llm = RuleLLM(delay=0.2)
    url = live(make_app(llm, queue_size=1))
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=ask("loop add 1 and 2", stream=True),
                      timeout=10) as r:
        for line in r.iter_lines():
            if "umi_event" in line:
                break  # leave after the first event
    for _ in range(300):
        if httpx.get(f"{url}/health").json()["queue"]["in_progress"] == 0:
            break
        time.sleep(0.02)
    health = httpx.get(f"{url}/health").json()
    assert health["queue"]["in_progress"] == 0
    assert health["generations"] < 12  # the looping episode was stopped, not run to its step limit
    assert httpx.post(f"{url}/v1/chat/completions", json=ask("add 2 and 2")).status_code == 200


def run_load(url: str, n: int, clients: int) -> tuple[list[float], list[str]]:
    """`n` requests (agent episodes and role completions, alternating) from `clients` threads;
    returns latencies and a description of every wrong or failed answer."""
    problems: list[str] = []
    latencies: list[float] = []

    def one(i: int, http: httpx.Client) -> None:
        started = time.perf_counter()
        if i % 2 == 0:
            r = http.post(f"{url}/v1/chat/completions", json=ask(f"add {i} and {1000 + i}"))
            want = f"The result is {1000 + 2 * i}."
            got = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.text
        else:
            r = http.post(f"{url}/v1/completions", json={"model": "caller", "prompt": f"request {i}"})
            want = " " + f"request {i}"[::-1]
            got = r.json()["choices"][0]["text"] if r.status_code == 200 else r.text
        latencies.append(time.perf_counter() - started)
        if r.status_code != 200 or got != want:
            problems.append(f"#{i}: {r.status_code} {got!r} != {want!r}")

    def worker(k: int) -> None:
        with httpx.Client(timeout=60) as http:
            for i in range(k, n, clients):
                one(i, http)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return latencies, problems


def test_200_requests_from_8_clients_are_all_served_correctly(live, make_app):
    llm = RuleLLM()
    url = live(make_app(llm))
    latencies, problems = run_load(url, 200, 8)
    assert problems == []
    assert len(latencies) == 200
    assert llm.max_active == 1  # one generation at a time, whatever the load
    health = httpx.get(f"{url}/health").json()
    assert health["served"] >= 200 and health["errors"] == 0 and health["queue"]["in_progress"] == 0
    assert health["batches"] < health["generations"]  # waiting role completions were batched
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"\nload: 200 served, 0 errors, p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
