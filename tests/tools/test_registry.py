"""The registry: derived schemas, validation errors as observations, exceptions and timeouts."""

from __future__ import annotations

import json
import time
from typing import Literal

import pytest

from multiagentllm.tools import ToolError, ToolRegistry, default_registry, tool
from multiagentllm.tools.schema import SchemaDerivationError, function_schema


@tool(domain="demo")
def greet(name: str, times: int = 1, style: Literal["plain", "loud"] = "plain", tags: list[str] | None = None) -> dict:
    """Greet someone.

    Args:
        name: Who to greet.
        times: How many
            times to repeat.
        style: Greeting style.
        tags: Optional labels.
    """
    text = " ".join([f"hello {name}"] * times)
    return {"text": text.upper() if style == "loud" else text}


@tool(domain="demo")
def explode(x: int) -> int:
    """Always fails.

    Args:
        x: Anything.
    """
    raise RuntimeError("boom")


@tool(domain="demo")
def refuse(x: int) -> int:
    """Fails with a message for the agent.

    Args:
        x: Anything.
    """
    raise ToolError(f"cannot handle {x}")


@tool(domain="slow")
def spin(seconds: float) -> str:
    """A hung tool: busy-loops for a while.

    Args:
        seconds: How long to spin.
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def make() -> ToolRegistry:
    reg = ToolRegistry(default_timeout=2.0)
    reg.extend([greet, explode, refuse, spin])
    return reg


def error_of(obs) -> str:
    assert not obs.ok
    assert json.loads(obs.content) == {"error": obs.error}
    return obs.error


def test_schema_is_derived_from_signature_and_docstring():
    s = greet.schema
    assert s["name"] == "greet" and s["description"] == "Greet someone."
    props = s["parameters"]["properties"]
    assert s["parameters"]["required"] == ["name"]
    assert props["name"] == {"type": "string", "description": "Who to greet."}
    assert props["times"] == {"type": "integer", "description": "How many times to repeat.", "default": 1}
    assert props["style"]["enum"] == ["plain", "loud"] and props["style"]["type"] == "string"
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}


def test_schema_derivation_rejects_undocumented_or_untyped_parameters():
    def no_doc(x: int) -> int:
        """Does things."""
        return x

    def untyped(x) -> int:
        """Does things.

        Args:
            x: A value.
        """
        return x

    with pytest.raises(SchemaDerivationError, match="missing from 'Args:'"):
        function_schema(no_doc)
    with pytest.raises(SchemaDerivationError, match="no type annotation"):
        function_schema(untyped)


def test_valid_call_returns_compact_json():
    obs = make().call("greet", {"name": "Ada", "times": 2, "style": "loud"})
    assert obs.ok and obs.error is None
    assert json.loads(obs.content) == {"text": "HELLO ADA HELLO ADA"} == obs.data


def test_unknown_tool_suggests_close_names():
    msg = error_of(make().call("gret", {"name": "x"}))
    assert "unknown tool 'gret'" in msg and "'greet'" in msg


@pytest.mark.parametrize("args, expected", [
    ({}, "missing required argument(s) 'name'"),
    ({"name": "a", "colour": "red"}, "unexpected argument(s) 'colour'"),
    ({"name": 3}, "argument 'name' of 'greet' must be string, got integer 3"),
    ({"name": "a", "times": "2"}, "argument 'times' of 'greet' must be integer, got string"),
    ({"name": "a", "style": "quiet"}, "must be one of ['plain', 'loud']"),
    ({"name": "a", "tags": [1]}, "argument 'tags' of 'greet' must be array"),
])
def test_bad_arguments_become_error_observations(args, expected):
    assert expected in error_of(make().call("greet", args))


def test_arguments_must_be_an_object():
    assert "must be a JSON object" in error_of(make().call("greet", ["Ada"]))


def test_exception_inside_a_tool_is_an_observation():
    assert error_of(make().call("explode", {"x": 1})) == "tool 'explode' failed: RuntimeError: boom"
    assert error_of(make().call("refuse", {"x": 7})) == "cannot handle 7"


def test_timeout_interrupts_a_hung_tool():
    reg = make()
    start = time.monotonic()
    msg = error_of(reg.call("spin", {"seconds": 30}, timeout=0.2))
    assert "timed out after 0.2 s" in msg
    assert time.monotonic() - start < 2
    # the busy loop was really interrupted: the process stays usable and quick
    assert reg.call("spin", {"seconds": 0.01}, timeout=1).content == "finished"


def test_toolsets_and_contains():
    reg = make()
    assert "greet" in reg and "nope" not in reg
    assert reg.toolset("demo") == ["greet", "explode", "refuse"]
    assert reg.toolset("all") == reg.names
    reg.add_toolset("pair", ["greet", "spin"])
    assert reg.schemas(reg.toolset("pair"))[1]["name"] == "spin"
    with pytest.raises(KeyError, match="unknown tool set"):
        reg.toolset("zzz")
    with pytest.raises(ValueError, match="already registered"):
        reg.register(greet)


def test_default_registry_has_enough_tools_and_domains():
    reg = default_registry()
    domains = {reg.domain(n) for n in reg.names}
    assert len(reg) >= 25 and len(domains) >= 6
    assert set(reg.toolset("travel")) >= {"search_flights", "book_flight", "search_hotels", "book_hotel"}
    for schema in reg.schemas():  # every built-in schema is complete
        assert schema["description"] and schema["parameters"]["type"] == "object"
