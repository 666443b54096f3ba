"""The API in process (FastAPI's TestClient): the agent model, the role models, completions,
streaming and every error status. Real HTTP, load and the openai client are in test_http.py."""

import json
import threading

import pytest
from serve_helpers import WEATHER_TOOL, RuleLLM, ask
from fastapi.testclient import TestClient

from multiagentllm.agent import AgentConfig
from multiagentllm.models.backends import ScriptedLLM
from multiagentllm.roles import caller, planner, summarizer
from multiagentllm.roles.registry import ROLES
from multiagentllm.serve import ServeConfig, create_app
from multiagentllm.types import Step, ToolCall

CHAT = "/v1/chat/completions"


def error_of(response, status):
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    return err


# --- models and health -------------------------------------------------------------------------

def test_models_and_health(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["alpha-umi", "planner", "caller", "summarizer"]
    assert client.get("/v1/models/caller").json()["id"] == "caller"
    assert error_of(client.get("/v1/models/gpt-4"), 404)["code"] == "model_not_found"
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_single_mode_serves_the_single_model_and_runs_the_loop_with_it(registry):
    llm = RuleLLM()
    with TestClient(create_app(llm, registry, single=True)) as c:
        assert [m["id"] for m in c.get("/v1/models").json()["data"]] == ["alpha-umi", "single"]
        body = c.post(CHAT, json=ask("add 4 and 5")).json()
        assert body["choices"][0]["message"]["content"] == "The result is 9."
        assert {role for role, _ in llm.calls} == {"single"}
        assert c.post(CHAT, json={"model": "planner", "messages": [{"role": "user", "content": "x"}]}
                      ).status_code == 404
        msg = c.post(CHAT, json=ask("weather in Rome", tools=[WEATHER_TOOL])).json()["choices"][0]["message"]
    with TestClient(create_app(RuleLLM(), registry, single=True)) as fresh:  # resumed from the messages
        body = fresh.post(CHAT, json={"model": "alpha-umi", "tools": [WEATHER_TOOL], "messages": [
            {"role": "user", "content": "weather in Rome"}, msg,
            {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "warm"}]}).json()
        assert body["choices"][0]["message"]["content"] == "The result is warm."


def test_a_model_still_loading_is_503_and_a_failed_load_says_why(registry):
    gate = threading.Event()

    def slow():
        gate.wait(10)
        return RuleLLM()

    with TestClient(create_app(slow, registry)) as c:
        assert c.get("/health").status_code == 503
        assert error_of(c.post(CHAT, json=ask("add 1 and 2")), 503)["code"] == "model_loading"
        gate.set()
        for _ in range(200):
            if c.get("/health").status_code == 200:
                break
            threading.Event().wait(0.01)
        assert c.post(CHAT, json=ask("add 1 and 2")).status_code == 200

    def broken():
        raise FileNotFoundError("checkpoint/manifest.json")

    app = create_app(broken, registry)
    app.state.umi.worker._thread.join(5)
    with TestClient(app) as c:
        assert "manifest.json" in c.get("/health").json()["error"]
        err = error_of(c.post("/v1/completions", json={"model": "planner", "prompt": "x"}), 503)
        assert "manifest.json" in err["message"]


# --- the agent ---------------------------------------------------------------------------------

def test_alpha_umi_runs_the_whole_loop_with_server_tools(client):
    body = client.post(CHAT, json=ask("please add 2 and 3")).json()
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "The result is 5."}
    assert choice["finish_reason"] == "stop" and body["object"] == "chat.completion"
    umi = body["umi"]
    assert umi["status"] == "solved"
    assert [s["next"] for s in umi["steps"]] == ["caller", "summarizer"]
    assert umi["steps"][0]["action"] == {"name": "add", "arguments": {"a": 2, "b": 3}}
    assert umi["steps"][0]["observation"] == "5"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("text, steps, status, finish, says", [
    ("this is impossible", 3, "given_up", "stop", "I could not complete this request with the available "
                                                  "tools: No listed tool can do this."),
    ("loop on add 1 and 2", 1, "max_steps", "length", "The agent stopped (max_steps): no answer after 1 steps"),
])
def test_episodes_that_do_not_answer_say_why(client, text, steps, status, finish, says):
    body = client.post(CHAT, json=ask(text, max_steps=steps)).json()
    assert body["umi"]["status"] == status and body["choices"][0]["finish_reason"] == finish
    assert body["choices"][0]["message"]["content"] == says
    assert len(body["umi"]["steps"]) == 1


def test_the_loop_guard_ends_a_looping_episode_with_what_was_observed(client):
    body = client.post(CHAT, json=ask("loop on add 1 and 2", max_steps=12)).json()
    umi = body["umi"]
    assert umi["status"] == "solved" and body["choices"][0]["finish_reason"] == "stop"
    assert [s["action"]["name"] for s in umi["steps"] if "action" in s] == ["add"]  # run once, not 12 times
    assert "already made at step 1" in umi["rejected_calls"][0]["error"]


def test_episodes_run_with_the_servers_agent_config(make_app):
    """The server's `AgentConfig` is the one its episodes run with: without the loop guard a
    looping episode repeats its call up to the server's step limit, which a request may not pass."""
    config = AgentConfig(max_steps=3, loop_guard=False)
    with TestClient(make_app(agent=config)) as c:
        umi = c.post(CHAT, json=ask("loop on add 1 and 2")).json()["umi"]
        assert umi["status"] == "max_steps"
        assert [s["action"]["name"] for s in umi["steps"] if "action" in s] == ["add"] * 3
        assert c.post(CHAT, json=ask("loop on add 1 and 2", max_steps=4)).status_code == 422


def test_tool_failures_and_unparseable_calls_become_observations(client):
    body = client.post(CHAT, json=ask("explode please")).json()
    assert body["umi"]["status"] == "solved"
    assert "boom" in body["umi"]["steps"][0]["observation"]
    body = client.post(CHAT, json=ask("do something vague")).json()
    assert body["umi"]["status"] == "solved"
    assert len(body["umi"]["rejected_calls"]) == 1 and body["umi"]["format_errors"][0]["role"] == "caller"


def test_toolset_and_tool_choice_pick_what_is_offered(registry):
    llm = ScriptedLLM({"planner": ["Rationale: nothing to call\nNext: Summarizer"],
                       "summarizer": ["fine"]})
    registry.add_toolset("math", ["add"])
    with TestClient(create_app(llm, registry)) as c:
        assert c.post(CHAT, json=ask("hi", toolset="math")).status_code == 200
        assert "- add:" in llm.calls[0].prompt and "explode" not in llm.calls[0].prompt
        err = error_of(c.post(CHAT, json=ask("hi", toolset="nope")), 400)
        assert err["param"] == "toolset"
        assert error_of(c.post(CHAT, json=ask("hi", tool_choice="required")), 400)["param"] == "tool_choice"


def test_client_tools_pause_the_episode_and_it_resumes_where_it_stopped(make_app, rule_llm):
    app = make_app(rule_llm)
    with TestClient(app) as c:
        first = c.post(CHAT, json=ask("weather in Paris", tools=[WEATHER_TOOL])).json()
        choice = first["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        [tc] = choice["message"]["tool_calls"]
        assert tc["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        assert choice["message"]["content"] == "I need a tool for this."
        assert first["umi"]["status"] == "awaiting_tool_results"
        assert c.get("/health").json()["paused_episodes"] == 1
        generated = len(rule_llm.calls)
        messages = [{"role": "user", "content": "weather in Paris"}, choice["message"],
                    {"role": "tool", "tool_call_id": tc["id"], "content": '{"temp_c": 11}'}]
        second = c.post(CHAT, json={"model": "alpha-umi", "messages": messages, "tools": [WEATHER_TOOL]}).json()
        assert second["choices"][0]["message"]["content"] == 'The result is {"temp_c": 11}.'
        assert second["umi"]["episode"] == first["umi"]["episode"]
        # the planner and caller turns before the pause were replayed, not generated again
        assert len(rule_llm.calls) - generated == 2
        assert c.get("/health").json()["paused_episodes"] == 0

    # A server that never saw the episode rebuilds it from the messages.
    with TestClient(make_app(RuleLLM())) as fresh:
        again = fresh.post(CHAT, json={"model": "alpha-umi", "messages": messages, "tools": [WEATHER_TOOL]}).json()
        assert again["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
        assert again["umi"]["steps"] == second["umi"]["steps"]


def test_a_resumption_refused_for_a_full_queue_keeps_the_paused_episode(make_app, rule_llm):
    app = make_app(rule_llm)
    admission = app.state.umi.admission
    with TestClient(app) as c:
        msg = c.post(CHAT, json=ask("weather in Oslo", tools=[WEATHER_TOOL])).json()["choices"][0]["message"]
        resume = {"model": "alpha-umi", "tools": [WEATHER_TOOL], "messages": [
            {"role": "user", "content": "weather in Oslo"}, msg,
            {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "snow"}]}
        admission.active = admission.limit
        assert error_of(c.post(CHAT, json=resume), 429)["code"] == "queue_full"
        assert c.get("/health").json()["paused_episodes"] == 1
        admission.active = 0
        generated = len(rule_llm.calls)
        assert c.post(CHAT, json=resume).json()["choices"][0]["message"]["content"] == "The result is snow."
        assert len(rule_llm.calls) - generated == 2 and c.get("/health").json()["paused_episodes"] == 0


def test_a_client_call_its_own_schema_rejects_never_reaches_the_client(client):
    strict = json.loads(json.dumps(WEATHER_TOOL))
    strict["function"]["parameters"]["properties"]["city"] = {"type": "integer"}
    body = client.post(CHAT, json=ask("weather in Paris", tools=[strict])).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "must be integer" in body["umi"]["steps"][0]["observation"]


def test_a_server_tool_and_a_client_tool_in_one_episode_keep_the_server_world(registry):
    llm = ScriptedLLM({
        "planner": ["Rationale: add first\nNext: Caller", "Rationale: now the weather\nNext: Caller",
                    "Rationale: done\nNext: Summarizer"],
        "caller": ['Action: add\nAction Input: {"a": 1, "b": 1}',
                   'Action: get_weather\nAction Input: {"city": "Oslo"}'],
        "summarizer": [lambda p: "2 and " + p.rsplit("Observation: ", 1)[1].split("\n")[0]]})
    with TestClient(create_app(llm, registry)) as c:
        first = c.post(CHAT, json=ask("sum then weather", tools=[WEATHER_TOOL, {
            "type": "function", "function": {"name": "add"}}])).json()
        msg = first["choices"][0]["message"]
        assert [s["action"]["name"] for s in first["umi"]["steps"]] == ["add", "get_weather"]
        assert msg["tool_calls"][0]["id"].endswith("_1")
        second = c.post(CHAT, json={"model": "alpha-umi", "tools": [WEATHER_TOOL, {
            "type": "function", "function": {"name": "add"}}], "messages": [
            {"role": "user", "content": "sum then weather"}, msg,
            {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "sunny"}]}).json()
        assert second["choices"][0]["message"]["content"] == "2 and sunny"
        assert [s.get("observation") for s in second["umi"]["steps"]] == ["2", "sunny", None]


def test_streaming_sends_each_agent_event_then_the_answer(client):
    with client.stream("POST", CHAT, json=ask("add 7 and 8", stream=True,
                                               stream_options={"include_usage": True})) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    kinds = [c["umi_event"]["kind"] for c in chunks if "umi_event" in c]
    assert kinds == ["plan", "call", "observation", "plan", "answer", "end"]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "The result is 15."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_a_model_error_mid_stream_is_an_error_event(registry):
    with TestClient(create_app(ScriptedLLM({"planner": []}), registry)) as c:
        with c.stream("POST", CHAT, json=ask("anything", stream=True)) as r:
            lines = [line for line in r.iter_lines() if line]
        error = json.loads(lines[-2][len("data: "):])["error"]
        assert "ran out of outputs" in error["message"] and lines[-1] == "data: [DONE]"
        assert c.get("/health").status_code == 200


# --- the role models ---------------------------------------------------------------------------

class Recording(RuleLLM):
    def __init__(self):
        super().__init__()
        self.prompts: list[tuple[str, str, list[str]]] = []

    def complete(self, prompts, *, role, max_new_tokens, stop):
        self.prompts.extend((role, p, list(stop)) for p in prompts)
        return super().complete(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop)


HISTORY = [{"role": "user", "content": "add 2 and 3"},
           {"role": "assistant", "content": "I need a tool for this.", "tool_calls": [
               {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
           {"role": "tool", "tool_call_id": "c1", "content": "5"}]


def test_role_models_render_the_trained_prompt_and_parse_their_turn(make_app, registry):
    llm = Recording()
    tools = registry.schemas()
    steps = [Step("I need a tool for this.", "caller", ToolCall("add", {"a": 2, "b": 3}), "5")]
    with TestClient(make_app(llm)) as c:
        body = c.post(CHAT, json={"model": "planner", "messages": HISTORY}).json()
        assert llm.prompts[-1][:2] == ("planner", planner.prompt("add 2 and 3", tools, steps))
        assert llm.prompts[-1][2] == planner.STOP
        assert body["choices"][0]["message"]["content"] == body["umi"]["raw"]
        assert (body["umi"]["rationale"], body["umi"]["next"]) == ("The observation answers the request.",
                                                                    "summarizer")

        plan = {"role": "assistant", "content": "Rationale: add again\nNext: Caller"}
        body = c.post(CHAT, json={"model": "caller", "messages": [*HISTORY, plan], "stop": ["###"]}).json()
        assert llm.prompts[-1][1] == caller.prompt("add 2 and 3", tools, steps, "add again")
        assert llm.prompts[-1][2] == [*caller.STOP, "###"]
        choice = body["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        assert choice["message"]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}

        done = {"role": "assistant", "content": "Rationale: that is it\nNext: Summarizer"}
        body = c.post(CHAT, json={"model": "summarizer", "messages": [*HISTORY, done]}).json()
        final = [*steps, Step("that is it", "summarizer")]
        assert llm.prompts[-1][1] == summarizer.prompt("add 2 and 3", tools, final)
        assert body["choices"][0]["message"]["content"] == "The result is 5."

        assert error_of(c.post(CHAT, json={"model": "caller", "messages": HISTORY}), 400)["param"] == "messages"
        assert error_of(c.post(CHAT, json={"model": "planner", "messages": [*HISTORY, plan]}), 400)


def test_a_role_output_that_does_not_parse_is_returned_raw_with_the_error(client):
    plan = {"role": "assistant", "content": "Rationale: hmm\nNext: Caller"}
    body = client.post(CHAT, json={"model": "caller", "messages": [
        {"role": "user", "content": "something vague"}, plan]}).json()
    assert body["choices"][0]["message"]["content"] == "I do not know which tool to use"
    assert "Action" in body["umi"]["format_error"]


def test_the_single_model_plays_the_turn_the_conversation_calls_for(registry):
    llm = Recording()
    with TestClient(create_app(llm, registry, single=True)) as c:
        turns = []
        for tail in ([], [{"role": "assistant", "content": "Rationale: go\nNext: Caller"}],
                     [{"role": "assistant", "content": "Rationale: done\nNext: Summarizer"}]):
            turns.append(c.post(CHAT, json={"model": "single", "messages": [*HISTORY, *tail]}).json()["umi"]["turn"])
        assert turns == ["planner", "caller", "summarizer"]
        steps = [Step("I need a tool for this.", "caller", ToolCall("add", {"a": 2, "b": 3}), "5")]
        assert llm.prompts[1][:2] == ("single", ROLES["single"].prompt("caller", "add 2 and 3", registry.schemas(),
                                                                       steps, "go"))
        assert all(p[1].startswith("You are a tool-using assistant. At each step") for p in llm.prompts)


def test_role_streaming_is_one_content_chunk(client):
    with client.stream("POST", CHAT, json={"model": "planner", "messages": HISTORY, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).startswith("Rationale:")
    assert lines[-1] == "data: [DONE]"


def test_completions_serve_raw_prompts_per_role(client, rule_llm):
    body = client.post("/v1/completions", json={"model": "caller", "prompt": ["abc", "xyz"],
                                                "max_tokens": 5, "stop": ["\n"]}).json()
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == [" cba", " zyx"]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert rule_llm.calls[-1] == ("caller", 2)  # one batched model call
    one = client.post("/v1/completions", json={"model": "planner", "prompt": "hello"}).json()
    assert one["choices"][0]["text"] == " olleh" and one["choices"][0]["finish_reason"] == "stop"
    err = error_of(client.post("/v1/completions", json={"model": "alpha-umi", "prompt": "x"}), 400)
    assert err["code"] == "model_not_supported"
    with client.stream("POST", "/v1/completions", json={"model": "planner", "prompt": "ab", "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert json.loads(lines[0][6:])["choices"][0]["text"] == " ba" and lines[-1] == "data: [DONE]"


# --- bad input ---------------------------------------------------------------------------------

def post_raw(client, body: bytes, path=CHAT):
    return client.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body, status, param", [
    (b"{not json", 400, None),
    (b"", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"messages": []}', 400, "model"),
    (b'{"model": 7, "messages": []}', 400, "model"),
    (b'{"model": "gpt-4o", "messages": []}', 404, "model"),
    (b'{"model": "alpha-umi"}', 400, "messages"),
    (b'{"model": "alpha-umi", "messages": []}', 400, "messages"),
    (b'{"model": "alpha-umi", "messages": [{"role": "wizard", "content": "x"}]}', 400, "messages.0.role"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": 5}]}', 400, "messages.0.content.str"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "stream"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "n": 2}', 400, "n"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "tools": {}}', 400, "tools"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}',
     422, "tools[0]"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "max_steps": 99}', 422, "max_steps"),
    (b'{"model": "alpha-umi", "messages": [{"role": "user", "content": "x"}], "max_steps": 0}', 400, "max_steps"),
    (b'{"model": "planner", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}', 400, "max_tokens"),
])
def test_bad_chat_bodies_get_openai_errors(client, body, status, param):
    err = error_of(post_raw(client, body), status)
    assert err["param"] == param
    assert client.post(CHAT, json=ask("add 1 and 1")).status_code == 200  # and it keeps serving


@pytest.mark.parametrize("body, status, param", [
    ({"model": "planner"}, 400, "prompt"),
    ({"model": "planner", "prompt": []}, 400, "prompt"),
    ({"model": "planner", "prompt": [1, 2]}, 400, "prompt.str"),
    ({"model": "planner", "prompt": "x", "stop": [""]}, 400, "stop"),
    ({"model": "planner", "prompt": "x", "stop": ["a"] * 17}, 400, "stop"),
    ({"model": "planner", "prompt": "x", "logprobs": 2}, 400, "logprobs"),
    ({"model": "planner", "prompt": "x", "echo": True}, 400, "echo"),
    ({"model": "planner", "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
    ({"model": "planner", "prompt": ["x"] * 17}, 413, "prompt"),
    ({"model": "planner", "prompt": "x" * 32_001}, 413, "prompt"),
])
def test_bad_completion_bodies_get_openai_errors(client, body, status, param):
    assert error_of(client.post("/v1/completions", json=body), status)["param"] == param


def test_over_long_inputs_are_413(make_app):
    with TestClient(make_app(max_body_bytes=2_000, agent=AgentConfig(max_query_chars=100))) as c:
        err = error_of(c.post(CHAT, json=ask("add 1 and 2 " + "x" * 3_000)), 413)
        assert err["code"] == "request_too_large"
        err = error_of(c.post(CHAT, json=ask("add 1 and 2 " + "x" * 200)), 413)
        assert err["code"] == "context_length_exceeded" and "instruction" in err["message"]


def test_a_history_longer_than_the_step_limit_is_422(client):
    messages = [{"role": "user", "content": "add 1 and 1"}]
    for i in range(3):
        messages += [{"role": "assistant", "content": "again", "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 1}'}}]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": "2"}]
    err = error_of(client.post(CHAT, json={"model": "alpha-umi", "messages": messages, "max_steps": 3}), 422)
    assert err["code"] == "too_many_steps"
    messages[1]["tool_calls"][0]["function"]["name"] = "not_offered"
    err = error_of(client.post(CHAT, json={"model": "alpha-umi", "messages": messages}), 422)
    assert err["code"] == "history_mismatch"


def test_unknown_routes_and_methods_are_json_errors(client):
    assert error_of(client.get("/v1/nothing"), 404)["code"] == "unknown_url"
    assert error_of(client.get(CHAT), 405)["code"] == "method_not_allowed"


def test_a_crashing_model_is_500_and_the_server_keeps_serving(registry):
    class Flaky(RuleLLM):
        def complete(self, prompts, **kw):
            if "crash" in prompts[0]:
                raise RuntimeError("CUDA out of memory")
            return super().complete(prompts, **kw)

    with TestClient(create_app(Flaky(), registry)) as c:
        err = error_of(c.post("/v1/completions", json={"model": "planner", "prompt": "crash"}), 500)
        assert "CUDA out of memory" in err["message"] and err["type"] == "server_error"
        err = error_of(c.post(CHAT, json=ask("crash the agent")), 500)
        assert c.post(CHAT, json=ask("add 1 and 2")).json()["choices"][0]["message"]["content"] == "The result is 3."
        assert c.get("/health").json()["errors"] == 2


def test_a_request_that_waits_too_long_for_the_model_is_503(registry):
    gate = threading.Event()

    class Stuck(RuleLLM):
        def complete(self, prompts, **kw):
            gate.wait(5)
            return super().complete(prompts, **kw)

    with TestClient(create_app(Stuck(), registry, config=ServeConfig(request_timeout=0.2))) as c:
        err = error_of(c.post("/v1/completions", json={"model": "planner", "prompt": "x"}), 503)
        assert err["code"] == "timeout"
        err = error_of(c.post(CHAT, json=ask("add 1 and 2")), 503)
        assert "waited more than 0.2 s" in err["message"]
        gate.set()
