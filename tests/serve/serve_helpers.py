"""Fixtures for the server tests: a rule-following model, a small tool registry, apps and live
servers on loopback.

`RuleLLM` plays every role from the prompt alone (what the instruction asks, whether an
observation is there yet), so it gives the right answer to any number of concurrent requests in
any order, and a wrong answer if requests ever leaked into each other. It also records how many
calls were inside `complete` at once: the server promises exactly one.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis.configuration import set_hypothesis_home_dir

from multiagentllm.serve import ServeConfig, ServerThread, create_app
from multiagentllm.tools import ToolRegistry, tool

# Hypothesis keeps a cache next to the working directory; keep the repository clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "multiagentllm-hypothesis")

_INSTRUCTION = re.compile(r"<s> (.*?) </s>", re.S)
_NUMBERS = re.compile(r"add (-?\d+) and (-?\d+)")
_CITY = re.compile(r"weather in (\w+)")


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool
def explode(reason: str) -> str:
    """A tool that always fails.

    Args:
        reason: What to complain about.
    """
    raise ValueError(reason)


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city (runs on the client).",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


class RuleLLM:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.lock = threading.Lock()
        self.active = self.max_active = 0
        self.calls: list[tuple[str, int]] = []  # (role, batch size)

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text.split())

    def complete(self, prompts, *, role, max_new_tokens, stop):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append((role, len(prompts)))
        try:
            if self.delay:
                time.sleep(self.delay)
            return [self.answer(p) for p in prompts]
        finally:
            with self.lock:
                self.active -= 1

    def answer(self, prompt: str) -> str:
        m = _INSTRUCTION.search(prompt)
        if m is None:  # a raw prompt: echo its last line, as a continuation would
            return " " + prompt.strip().splitlines()[-1][::-1] if prompt.strip() else "empty"
        instruction = m.group(1)
        observations = re.findall(r"^Observation: (.*)$", prompt, re.M)
        if prompt.endswith("Answer:\n"):
            return f"The result is {observations[-1]}." if observations else "Nothing to report."
        if prompt.endswith("Next: Caller\n"):
            if (n := _NUMBERS.search(instruction)):
                return f"Action: add\nAction Input: {json.dumps({'a': int(n[1]), 'b': int(n[2])})}"
            if (c := _CITY.search(instruction)):
                return f'Action: get_weather\nAction Input: {{"city": "{c[1]}"}}'
            if "explode" in instruction:
                return 'Action: explode\nAction Input: {"reason": "boom"}'
            return "I do not know which tool to use"
        if "impossible" in instruction:
            return "Rationale: No listed tool can do this.\nNext: Give up"
        if "loop" in instruction:
            return "Rationale: Let me add again.\nNext: Caller"
        if observations:
            return "Rationale: The observation answers the request.\nNext: Summarizer"
        return "Rationale: I need a tool for this.\nNext: Caller"


@pytest.fixture
def registry():
    reg = ToolRegistry(default_timeout=5.0)
    reg.extend([add, explode])
    return reg


@pytest.fixture
def rule_llm():
    return RuleLLM()


@pytest.fixture
def make_app(registry):
    def make(llm=None, **config):
        return create_app(llm or RuleLLM(), registry, config=ServeConfig(**config))
    return make


@pytest.fixture
def client(make_app, rule_llm):
    with TestClient(make_app(rule_llm)) as c:
        yield c


@pytest.fixture
def live(make_app):
    """A factory of real servers on loopback: `url = live(app)`; stopped at teardown."""
    servers = []

    def start(app=None):
        server = ServerThread(app or make_app())
        servers.append(server)
        return server.start()

    yield start
    for s in servers:
        s.stop()


def ask(text: str, **extra):
    return {"model": "alpha-umi", "messages": [{"role": "user", "content": text}], **extra}
