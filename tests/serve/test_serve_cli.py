"""`umi serve` as a user runs it: a real process, generating through another OpenAI-compatible
endpoint (`--backend openai`), and its errors for bad options."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from openai import OpenAI

UMI = [sys.executable, "-m", "multiagentllm.cli", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_umi_serve_runs_the_agent_and_generates_on_another_endpoint(live, make_app):
    upstream = live(make_app())
    port = free_port()
    proc = subprocess.Popen([*UMI, "--backend", "openai", "--base-url", f"{upstream}/v1",
                             "--port", str(port), "--max-steps", "3", "--log-level", "warning"],
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail(f"umi serve did not come up: {proc.stderr.read() if proc.poll() is not None else ''}")
        client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        assert client.completions.create(model="planner", prompt="abc").choices[0].text == " cba"
        reply = client.chat.completions.create(
            model="alpha-umi", messages=[{"role": "user", "content": "this is impossible"}])
        assert reply.choices[0].message.content.endswith("No listed tool can do this.")
        too_many = httpx.post(f"{url}/v1/chat/completions", json={
            "model": "alpha-umi", "max_steps": 4, "messages": [{"role": "user", "content": "x"}]})
        assert too_many.status_code == 422  # the server's --max-steps 3 is the ceiling
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_options_exit_with_a_message():
    bad = subprocess.run([*UMI, "--backend", "vllm"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown backend 'vllm'" in bad.stderr
    no_url = subprocess.run([*UMI, "--backend", "openai", "--port", str(free_port())],
                            capture_output=True, text=True)
    assert no_url.returncode == 2 and "--base-url" in no_url.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = subprocess.run([*UMI, "--port", str(taken.getsockname()[1])], capture_output=True, text=True)
    assert busy.returncode == 2 and "cannot listen" in busy.stderr


def test_umi_serve_with_an_api_key_and_limits(live, make_app):
    upstream = live(make_app())
    port = free_port()
    env = {**os.environ, "UMI_API_KEY": "s3cret"}
    proc = subprocess.Popen([*UMI, "--backend", "openai", "--base-url", f"{upstream}/v1", "--port", str(port),
                             "--read-timeout", "0.5", "--max-connections", "16", "--log-level", "info"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail(f"umi serve did not come up: {proc.stderr.read() if proc.poll() is not None else ''}")
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/docs", headers={"Authorization": "Bearer s3cret"}).status_code == 404
        client = OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0)
        assert client.completions.create(model="planner", prompt="abc").choices[0].text == " cba"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:  # a body that never ends
            slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            assert slow.recv(65536).startswith(b"HTTP/1.1 408")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as gone:  # a client that leaves
            gone.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.3)
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=10)
    assert "left before its request was read: POST /v1/completions" in log
    assert "Traceback" not in log
