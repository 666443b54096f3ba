"""The tool registry: schemas for the prompts, and a `call` that never crashes its caller.

A tool is a typed Python function decorated with `@tool`; its OpenAI function schema is derived
from the signature and the docstring (see `schema.py`), never written twice.  Tools that need
per-episode state (the travel database, the calendar) take a first parameter `world: World`; the
registry injects its own `World`, so `registry.fresh()` gives a new, isolated environment.

`ToolRegistry.register` checks each tool's schema (`schema_check.py`): a malformed one raises
`ToolSchemaError` naming the tool and the path, and the registry is left unchanged.

`ToolRegistry.call` turns every failure into an error `Observation` whose content is
`{"error": "..."}`: an unknown tool (with close names suggested), missing, unexpected or mistyped
arguments (checked with jsonschema), an exception inside the tool, a timeout, and a result that
JSON cannot hold (an infinite float, an integer too long to write out).  A successful call's
content is always valid JSON, or the string the tool returned.

Timeouts: a tool runs in a thread that the timeout interrupts, or -- when marked
`@tool(cpu_bound=True)` -- in a worker process that the timeout kills, so that one runaway
computation can neither outlive its limit nor freeze the other threads (see `runner.py`).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from multiagentllm.tools.runner import ToolTimeout, run_in_worker, run_with_timeout
from multiagentllm.tools.schema import function_schema
from multiagentllm.tools.schema_check import check_tool_schema
from multiagentllm.tools.world import World


class ToolError(Exception):
    """Raised by a tool for a failure the agent should see and can act on (e.g. not found)."""


@dataclass
class Observation:
    """What a tool call returns to the agent: `content` is the text the model sees."""

    content: str
    ok: bool
    error: str | None = None
    data: Any = None


@dataclass
class FunctionTool:
    """A Python function with its derived schema; `domain` groups tools into tool sets;
    `cpu_bound` runs it in a worker process that its timeout kills."""

    name: str
    schema: dict[str, Any]
    fn: Callable[..., Any]
    domain: str = "general"
    needs_world: bool = False
    cpu_bound: bool = False

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**kwargs)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         domain: str = "general", cpu_bound: bool = False) -> Any:
    """Decorator: turn a typed, documented function into a `FunctionTool`.

    A first parameter named `world` receives the registry's `World` and is not in the schema.
    `cpu_bound=True` is for a pure function whose arguments can make it compute for long (an
    arithmetic evaluator): it runs in a worker process, which must be able to import it, so it is
    defined at the top level of a module and takes no `world`."""

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        import inspect

        params = list(inspect.signature(f).parameters)
        needs_world = bool(params) and params[0] == "world"
        schema = function_schema(f, name=name, skip=("world",) if needs_world else ())
        if cpu_bound and (needs_world or "<locals>" in f.__qualname__ or f.__module__ == "__main__"):
            raise ValueError(f"tool {schema['name']!r} cannot be cpu_bound: it runs in a worker "
                             "process, so it must be defined at the top level of an importable "
                             "module and take no `world`")
        return FunctionTool(schema["name"], schema, f, domain, needs_world, cpu_bound)

    return wrap(fn) if fn is not None else wrap


def to_content(value: Any) -> str:
    """Compact, deterministic text of a tool result (JSON unless it already is a string).

    Raises ValueError for what strict JSON cannot hold: an infinite or NaN float, an integer
    longer than Python writes out (4,300 digits by default)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError as e:
        if "integer string conversion" in str(e):
            raise ValueError("it holds an integer too long to write out") from None
        if "Out of range float" in str(e):
            raise ValueError("it holds an infinite or NaN number") from None
        raise


def error_observation(message: str) -> Observation:
    return Observation(content=json.dumps({"error": message}, ensure_ascii=False), ok=False,
                       error=message)


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _preview(value: Any) -> str:
    """The start of a value's JSON text, even for a value too large to write out."""
    try:
        return json.dumps(value, ensure_ascii=False)[:60]
    except ValueError:
        return "(too long to show)"


def validate_arguments(schema: dict[str, Any], arguments: Any) -> str | None:
    """Return a readable reason why `arguments` do not fit the tool's schema, or None."""
    name = schema["name"]
    if not isinstance(arguments, dict):
        return f"arguments for {name!r} must be a JSON object, got {_type_name(arguments)}"
    params = schema.get("parameters") or {}
    props = params.get("properties") or {}
    missing = [p for p in params.get("required", []) if p not in arguments]
    if missing:
        return f"missing required argument(s) {', '.join(map(repr, missing))} for {name!r}"
    unknown = [a for a in arguments if a not in props]
    if unknown:
        expected = ", ".join(props) or "none"
        return (f"unexpected argument(s) {', '.join(map(repr, unknown))} for {name!r} "
                f"(expected: {expected})")
    if not arguments:
        return None
    root, parsed = _root_validator(json.dumps(params, sort_keys=True))
    for arg, value in arguments.items():
        # a `$ref` in the argument's schema resolves against the whole parameters schema (where
        # its `$defs` are), so the argument's validator is evolved from the root's (~4 us)
        try:
            invalid = not root.evolve(schema=parsed["properties"][arg]).is_valid(value)
        except ValueError:  # jsonschema's message quotes the value: an integer too long to write
            invalid = True
        if invalid:
            want = props[arg].get("type") or props[arg].get("enum") or "a valid value"
            if "enum" in props[arg]:
                return f"argument {arg!r} of {name!r} must be one of {props[arg]['enum']}, got {_preview(value)}"
            return f"argument {arg!r} of {name!r} must be {want}, got {_type_name(value)} {_preview(value)}"
    return None


VALIDATOR_CACHE_SIZE = 64  # parameter schemas; a server sees a new one with every client tool


@functools.lru_cache(maxsize=VALIDATOR_CACHE_SIZE)
def _root_validator(params_json: str) -> tuple[Any, dict[str, Any]]:
    """The validator of a whole parameters schema, and that schema (parsed once, defaults
    dropped), kept for the most recently used schemas only."""
    params = json.loads(params_json)
    for schema in params["properties"].values():
        if isinstance(schema, dict):
            schema.pop("default", None)
    return jsonschema.Draft7Validator(params), params


@dataclass
class ToolRegistry:
    """Named tools bound to one `World`; `call` validates and executes, `schemas` feeds prompts."""

    tools: dict[str, Any] = field(default_factory=dict)
    world: World = field(default_factory=World)
    default_timeout: float | None = 10.0
    toolsets: dict[str, list[str]] = field(default_factory=dict)

    def register(self, t: Any, *, domain: str | None = None) -> Any:
        """Add a `FunctionTool`, a plain documented function, or any object with `name`,
        `schema` and `__call__` (simulated APIs).  A malformed schema raises `ToolSchemaError`
        naming the tool, and nothing is registered."""
        if not hasattr(t, "schema"):
            t = tool(t, domain=domain or "general")
        check_tool_schema(t.schema)
        if t.name in self.tools:
            raise ValueError(f"tool {t.name!r} is already registered")
        self.tools[t.name] = t
        return t

    def extend(self, tools: Iterable[Any]) -> None:
        for t in tools:
            self.register(t)

    def fresh(self, *, seed: int | None = None, now: Any = None) -> "ToolRegistry":
        """The same tools with a new, empty `World` (one per episode keeps episodes isolated)."""
        world = World(seed=self.world.seed if seed is None else seed,
                      now=self.world.now if now is None else now)
        return ToolRegistry(dict(self.tools), world, self.default_timeout,
                            {k: list(v) for k, v in self.toolsets.items()})

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def get(self, name: str) -> Any:
        return self.tools[name]

    def domain(self, name: str) -> str:
        return getattr(self.tools[name], "domain", "general")

    def schemas(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """OpenAI function schemas, in the order of `names` (all tools when None)."""
        names = self.names if names is None else list(names)
        unknown = [n for n in names if n not in self.tools]
        if unknown:
            raise KeyError(f"unknown tool(s) {unknown}")
        return [self.tools[n].schema for n in names]

    def add_toolset(self, name: str, names: Iterable[str]) -> None:
        self.toolsets[name] = list(names)

    def toolset_names(self) -> list[str]:
        domains = sorted({self.domain(n) for n in self.tools})
        return ["all", *domains, *sorted(set(self.toolsets) - set(domains) - {"all"})]

    def toolset(self, name: str) -> list[str]:
        """Tool names of a named set: "all", a domain ("travel", "weather", ...) or a custom set."""
        if name == "all":
            return self.names
        if name in self.toolsets:
            return list(self.toolsets[name])
        found = [n for n in self.tools if self.domain(n) == name]
        if not found:
            raise KeyError(f"unknown tool set {name!r}; known: {', '.join(self.toolset_names())}")
        return found

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Registered names close to a (hallucinated) one."""
        lower = {k.lower(): k for k in self.tools}
        close = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
        contains = [k for k in lower if name.lower() in k or (len(k) > 3 and k in name.lower())]
        return list(dict.fromkeys(lower[k] for k in [*close, *contains]))[:n]

    def call(self, name: str, arguments: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> Observation:
        """Validate and run one call; every failure becomes an error observation."""
        if name not in self.tools:
            hint = self.suggest(name)
            return error_observation(f"unknown tool {name!r}"
                                     + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else ""))
        t = self.tools[name]
        arguments = {} if arguments is None else arguments
        reason = validate_arguments(t.schema, arguments)
        if reason:
            return error_observation(reason)
        kwargs = dict(arguments)
        if getattr(t, "needs_world", False):
            kwargs["world"] = self.world
        timeout = self.default_timeout if timeout is None else timeout
        try:
            if getattr(t, "cpu_bound", False):
                value = run_in_worker(t.fn, kwargs, timeout)
            else:
                value = run_with_timeout(lambda: t(**kwargs), timeout)
        except ToolTimeout as e:
            return error_observation(f"tool {name!r} {e}")
        except ToolError as e:
            return error_observation(str(e))
        except Exception as e:  # noqa: BLE001 - a broken tool must not crash the agent
            return error_observation(f"tool {name!r} failed: {type(e).__name__}: {e}")
        try:
            content = to_content(value)
        except Exception as e:  # noqa: BLE001 - nor may a result that JSON cannot hold
            return error_observation(f"tool {name!r} returned a result that is not valid JSON: {e}")
        return Observation(content=content, ok=True, data=value)
