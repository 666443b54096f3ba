"""Who may call the server: an optional API key (`Authorization: Bearer KEY`, as OpenAI clients
send it), no API docs unless asked for, and no cross-site "simple" POSTs (a web page can send
`text/plain` to a server on localhost without asking; it cannot send `application/json`)."""

import json

import openai
import pytest
from serve_helpers import ask
from fastapi.testclient import TestClient
from openai import OpenAI

CHAT = "/v1/chat/completions"


def test_with_an_api_key_every_route_but_health_needs_it(make_app):
    with TestClient(make_app(api_key="s3cret")) as c:
        assert c.get("/health").status_code == 200
        for method, path in [("GET", "/v1/models"), ("POST", CHAT), ("POST", "/v1/completions"),
                             ("GET", "/v1/nothing")]:
            r = c.request(method, path, json=ask("add 1 and 2"))
            assert r.status_code == 401, (path, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
        for wrong in ("Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"):
            assert c.get("/v1/models", headers={"Authorization": wrong}).status_code == 401
        ok = c.post(CHAT, json=ask("add 1 and 2"), headers={"Authorization": "Bearer s3cret"})
        assert ok.json()["choices"][0]["message"]["content"] == "The result is 3."
        assert c.get("/v1/models", headers={"Authorization": "bearer s3cret"}).status_code == 200
        health = c.get("/health").json()
        assert health["errors"] >= 8 and health["served"] >= 2  # refusals are counted as errors


def test_the_openai_client_sends_the_key(live, make_app):
    url = live(make_app(api_key="s3cret"))
    reply = OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0).chat.completions.create(
        model="alpha-umi", messages=[{"role": "user", "content": "add 20 and 22"}])
    assert reply.choices[0].message.content == "The result is 42."
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{url}/v1", api_key="guess", max_retries=0).models.list()


def test_docs_are_off_unless_asked_for(make_app):
    with TestClient(make_app()) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 404
    with TestClient(make_app(docs=True, api_key="s3cret")) as c:
        assert c.get("/docs").status_code == 200  # the docs describe the API; calling it needs the key
        assert "/v1/chat/completions" in c.get("/openapi.json").json()["paths"]
        assert c.get("/v1/models").status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_bodies_not_sent_as_json_are_415(client, rule_llm, content_type):
    headers = {"content-type": content_type} if content_type else {}
    for path, body in [(CHAT, ask("add 1 and 2")), ("/v1/completions", {"model": "planner", "prompt": "x"})]:
        r = client.post(path, content=json.dumps(body).encode(), headers=headers)
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "unsupported_media_type"
    assert rule_llm.calls == []


def test_json_with_a_charset_is_json(client):
    r = client.post(CHAT, content=json.dumps(ask("add 1 and 2")).encode(),
                    headers={"content-type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200, r.text
