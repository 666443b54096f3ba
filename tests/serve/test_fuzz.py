"""Fuzzing request bodies (hypothesis): whatever arrives, the answer is a completion or an
OpenAI error with a 4xx status, never a 500 or a dropped connection, and the server keeps
serving afterwards."""

import json

import pytest
from serve_helpers import WEATHER_TOOL, RuleLLM, add, explode
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiagentllm.agent import AgentConfig
from multiagentllm.serve import ServeConfig, create_app
from multiagentllm.tools import ToolRegistry

ALLOWED = {200, 400, 404, 413, 422}
# Bodies are mostly plausible (so that the agent, the role models and the replay of tool
# histories run), with junk mixed in at every level (so that every validation path runs).
MODELS = st.sampled_from(["alpha-umi", "planner", "alpha-umi", "caller", "summarizer", "alpha-umi",
                          "single", "gpt-4o", ""])
scalars = st.none() | st.booleans() | st.integers(-5, 10**6) \
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
texts = st.sampled_from(["add 3 and 4", "weather in Rome", "impossible", "loop add 1 and 1",
                         "Rationale: go\nNext: Caller", "Rationale: done\nNext: Summarizer"]) | st.text(max_size=60)
ids = st.sampled_from(["c1", "c2", "call_0123456789abcdef_0"])
tool_call = st.fixed_dictionaries({
    "id": ids, "type": st.just("function"),
    "function": st.fixed_dictionaries({"name": st.sampled_from(["add", "get_weather", "nope"]),
                                       "arguments": st.sampled_from(['{"a": 1, "b": 2}', '{"city": "X"}',
                                                                     "{", "[]", ""])})})
turn = st.fixed_dictionaries(
    {"role": st.sampled_from(["assistant", "tool", "assistant", "tool", "system", "user", "robot"])},
    optional={"content": texts | st.none(), "tool_calls": st.lists(tool_call, max_size=2), "tool_call_id": ids})
plausible = st.tuples(st.fixed_dictionaries({"role": st.just("user"), "content": texts}),
                      st.lists(turn, max_size=4)).map(lambda t: [t[0], *t[1]])
tools = st.lists(st.sampled_from([WEATHER_TOOL, {"type": "function", "function": {"name": "add"}}])
                 | st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
                     {"name": st.text(max_size=10)}, optional={"parameters": json_values})}), max_size=3)


def _coherent(parts):
    """A well-formed tool history: user, (assistant call, tool result)*, maybe a last rationale."""
    user, rounds, last = parts
    out = [{"role": "user", "content": user}]
    for i, (rationale, name, args, result) in enumerate(rounds):
        out.append({"role": "assistant", "content": rationale, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}]})
        out.append({"role": "tool", "tool_call_id": f"c{i}", "content": result})
    return out + ([{"role": "assistant", "content": last}] if last else [])


coherent = st.tuples(texts, st.lists(st.tuples(
    texts, st.sampled_from(["add", "get_weather", "explode", "nope"]),
    st.sampled_from(['{"a": 1, "b": 2}', '{"city": "X"}', '{"reason": "r"}', "{}", "{", "[]"]),
    st.text(max_size=20)), max_size=3), st.none() | texts).map(_coherent)
good_chat = st.fixed_dictionaries({"model": MODELS, "messages": coherent | coherent | plausible}, optional={
    "tools": tools, "stream": st.booleans(), "n": st.just(1), "max_tokens": st.integers(1, 300),
    "stop": st.lists(st.text(min_size=1, max_size=4), max_size=4), "max_steps": st.integers(1, 4),
    "tool_choice": st.sampled_from(["auto", "none"]), "temperature": st.floats(0, 2),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()})})
CHAT_KEYS = ["junk", "tools", "stream", "n", "max_tokens", "stop", "max_steps", "toolset",
             "tool_choice", "temperature", "stream_options", "logprobs", "max_completion_tokens", "messages", "model"]


def corrupt(keys):
    """A body with exactly one field replaced by arbitrary JSON (or removed)."""
    def spoil(body):
        return st.tuples(st.sampled_from(keys), json_values | st.just(...)).map(
            lambda kv: {k: v for k, v in {**body, kv[0]: kv[1]}.items() if v is not ...})
    return spoil


chat_bodies = good_chat | good_chat.flatmap(corrupt(CHAT_KEYS))
good_completion = st.fixed_dictionaries({"model": MODELS, "prompt": st.text(max_size=40)
                                         | st.lists(st.text(max_size=10), min_size=1, max_size=4)}, optional={
    "max_tokens": st.integers(1, 500), "stop": st.lists(st.text(min_size=1, max_size=3), max_size=4),
    "stream": st.booleans()})
completion_bodies = good_completion | good_completion.flatmap(corrupt(
    ["max_tokens", "stop", "stream", "echo", "logprobs", "best_of", "n", "suffix", "prompt", "model"]))


@pytest.fixture(scope="module")
def client():
    """One server for all examples: what one bad body does must not break the next one."""
    registry = ToolRegistry()
    registry.extend([add, explode])
    config = ServeConfig(max_input_chars=2_000, max_body_bytes=20_000, agent=AgentConfig(max_steps=4))
    with TestClient(create_app(RuleLLM(), registry, config=config), raise_server_exceptions=False) as c:
        yield c


def check(response):
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if response.status_code != 200:
        err = response.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str)
    elif response.headers["content-type"].startswith("text/event-stream"):
        lines = [line for line in response.text.splitlines() if line]
        assert lines[-1] == "data: [DONE]"
        for line in lines[:-1]:
            assert "error" not in json.loads(line[6:]), line
    else:
        assert response.json()["choices"]


FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=chat_bodies)
def test_fuzzed_chat_bodies(client, body):
    check(client.post("/v1/chat/completions", json=body))


@FUZZ
@given(body=completion_bodies)
def test_fuzzed_completion_bodies(client, body):
    check(client.post("/v1/completions", json=body))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_fuzzed_raw_bytes(client, raw):
    for path in ("/v1/chat/completions", "/v1/completions"):
        check(client.post(path, content=raw, headers={"content-type": "application/json"}))


def test_the_fuzzed_server_still_serves(client):
    reply = client.post("/v1/chat/completions", json={
        "model": "alpha-umi", "messages": [{"role": "user", "content": "add 1 and 2"}]})
    assert reply.json()["choices"][0]["message"]["content"] == "The result is 3."
    health = client.get("/health").json()
    assert health["queue"]["in_progress"] == 0 and health["status"] == "ok"
