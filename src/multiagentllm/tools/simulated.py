"""Simulated RapidAPI-style tools: deterministic responses from a response template, with a cache.

ToolBench / StableToolBench list each API with a `template_response` (`{"name": "str",
"items": [{"id": "int", "_list_length": 5}]}`); Seal-Tools gives response fields as
`{"field": {"type": "str", "description": ...}}`.  A `SimulatedTool` fills such a template with
values derived from a hash of (tool name, arguments, field path), so the same call always gets the
same response, and a field named like an argument echoes that argument (a search for "messi"
answers about "messi").  Responses stay compact: lists are cut to two items, nesting to three
levels.  Without a template the tool answers with a short status that echoes its arguments.

`ResponseCache` records responses to a JSON file and replays them: in "replay" mode a call that
was never recorded is an error, so an evaluation run sees exactly the responses recorded once.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from multiagentllm.io import atomic_open
from multiagentllm.tools.registry import ToolError
from multiagentllm.tools.world import stable_rng

MAX_ITEMS, MAX_DEPTH, MAX_KEYS = 2, 3, 8
_WORDS = ["amber", "atlas", "beacon", "cedar", "delta", "ember", "falcon", "harbor", "indigo", "juniper",
          "lumen", "maple", "nova", "orbit", "pioneer", "quartz", "river", "summit", "tango", "vertex"]
_TYPE_WORDS = {"str": "str", "string": "str", "text": "str", "int": "int", "integer": "int",
               "float": "float", "number": "float", "double": "float", "bool": "bool", "boolean": "bool"}


def call_key(name: str, arguments: dict[str, Any]) -> str:
    return f"{name} {json.dumps(arguments, sort_keys=True, ensure_ascii=False)}"


def _leaf(kind: str, key: str, args: dict[str, Any], rng: Any) -> Any:
    k = key.lower()
    for arg, value in args.items():  # a field named like an argument echoes it
        if arg.lower() == k or (len(arg) > 3 and arg.lower() in k and isinstance(value, str)):
            if kind == "str" or not isinstance(value, str):
                return value
    if kind == "int":
        if "year" in k:
            return rng.randint(1990, 2024)
        if k == "age" or k.endswith("_age"):
            return rng.randint(18, 90)
        return rng.randint(1, 500) if any(w in k for w in ("count", "num", "total", "size")) else rng.randint(1, 99999)
    if kind == "float":
        if "lat" in k:
            return round(rng.uniform(-60, 60), 4)
        if "lon" in k or "lng" in k:
            return round(rng.uniform(-150, 150), 4)
        return round(rng.uniform(0, 1000), 2)
    if kind == "bool":
        return rng.random() < 0.7
    if any(w in k for w in ("date", "time", "created", "updated")):
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if any(w in k for w in ("url", "link", "image", "href", "website", "logo", "thumbnail")):
        return f"https://example.com/{k.replace(' ', '_')}/{rng.randrange(16**6):06x}"
    if k == "id" or k.endswith("_id") or k.endswith("id"):
        return f"{rng.randrange(16**8):08x}"
    if "email" in k:
        return f"{rng.choice(_WORDS)}{rng.randint(1, 99)}@example.com"
    if any(w in k for w in ("status", "message")):
        return rng.choice(["success", "ok", "active"])
    return f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)}"


def fill_template(template: Any, args: dict[str, Any], seed: str, path: str = "$", depth: int = 0) -> Any:
    """A deterministic value shaped like `template` (ToolBench or Seal-Tools style)."""
    rng = stable_rng(seed, path)
    if isinstance(template, str):
        t = template.strip().lower()
        m = re.match(r"list of (\w+)", t)
        if m:
            return [_leaf(_TYPE_WORDS.get(m.group(1), "str"), path.rsplit(".", 1)[-1], {}, stable_rng(seed, path, i))
                    for i in range(MAX_ITEMS)]
        return _leaf(_TYPE_WORDS.get(t, "str"), path.rsplit(".", 1)[-1], args, rng)
    if isinstance(template, list):
        if not template or depth >= MAX_DEPTH:
            return []
        return [fill_template(template[0], args, seed, f"{path}[{i}]", depth + 1) for i in range(MAX_ITEMS)]
    if isinstance(template, dict):
        if isinstance(template.get("type"), str) and set(template) <= {"type", "description", "items", "properties", "enum"}:
            if template.get("enum"):
                return rng.choice(template["enum"])
            t = template["type"].lower()
            if t.startswith("list") or t == "array":
                inner = re.match(r"list\[(\w+)\]", t)
                item = template.get("items") or (inner.group(1) if inner else "str")
                return [fill_template(item, args, seed, f"{path}[{i}]", depth + 1) for i in range(MAX_ITEMS)]
            if t in ("dict", "object") and isinstance(template.get("properties"), dict):
                return fill_template(template["properties"], args, seed, path, depth)
            return fill_template(t, args, seed, path, depth)
        if depth >= MAX_DEPTH:
            return {}
        body = [(k, v) for k, v in template.items() if k != "_list_length"][:MAX_KEYS]
        return {k: fill_template(v, args, seed, f"{path}.{k}", depth + 1) for k, v in body}
    return template


def simulate(name: str, arguments: dict[str, Any], template: Any) -> Any:
    """The response of a simulated API: the template filled for this call, or an echo status."""
    seed = hashlib.sha256(call_key(name, arguments).encode()).hexdigest()[:16]
    if isinstance(template, dict) and template:
        return fill_template(template, arguments, seed)
    if isinstance(template, list) and template:
        return fill_template(template, arguments, seed)
    return {"status": "success", "api": name, **{k: v for k, v in list(arguments.items())[:4]}}


class ResponseCache:
    """Record/replay of simulated responses, stored as one JSON object {call key: response}.

    mode "record": use a recorded response, else simulate and record it; "replay": recorded
    responses only (a miss is a ToolError); "off": always simulate."""

    def __init__(self, path: str | Path | None = None,
                 mode: Literal["record", "replay", "off"] = "record"):
        if mode not in ("record", "replay", "off"):
            raise ValueError(f"cache mode must be record, replay or off, not {mode!r}")
        self.path, self.mode = (Path(path) if path else None), mode
        self.entries: dict[str, Any] = {}
        self.dirty = False
        if self.path and self.path.exists():
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        elif mode == "replay" and self.path:
            raise FileNotFoundError(f"{self.path}: no response cache to replay")

    def lookup(self, name: str, arguments: dict[str, Any], produce: Any) -> Any:
        key = call_key(name, arguments)
        if self.mode != "off" and key in self.entries:
            return self.entries[key]
        if self.mode == "replay":
            raise ToolError(f"no recorded response for {name} with these arguments (replay mode)")
        value = produce()
        if self.mode == "record":
            self.entries[key] = value
            self.dirty = True
        return value

    def save(self) -> None:
        if self.path and self.dirty:
            with atomic_open(self.path) as f:
                json.dump(self.entries, f, ensure_ascii=False, indent=0)  # key order is part of the response
            self.dirty = False


class SimulatedTool:
    """A tool that answers from its response template (see module docstring)."""

    needs_world = False

    def __init__(self, schema: dict[str, Any], template: Any = None, *, domain: str = "simulated",
                 cache: ResponseCache | None = None):
        self.schema, self.template, self.domain, self.cache = schema, template, domain, cache
        self.name = schema["name"]

    def __call__(self, **arguments: Any) -> Any:
        if self.cache is None:
            return simulate(self.name, arguments, self.template)
        return self.cache.lookup(self.name, arguments, lambda: simulate(self.name, arguments, self.template))
