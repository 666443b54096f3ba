"""Gorilla ML-hub APIs (`gorilla/data/api/*_api.jsonl`) as callable tools.

A hub call such as `torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)`
cannot run offline, so the tool reports what it would load, from the API's documentation entry:
the API name, domain, functionality, a clipped description and the documented performance.  A
call that matches no documented API is an error observation naming close identifiers, which is
what a hallucinated model name should get.

Calls are matched on the identifying argument (model, handle, model id); the API docs' own calls
are parsed with the tolerant scanner of `call_syntax`, which the APIBench loader and evaluator use
too, so every side reads calls the same way.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from multiagentllm.io import read_records
from multiagentllm.tools.call_syntax import call_to_toolcall, json_type, reference_calls
from multiagentllm.tools.registry import ToolError, ToolRegistry

ID_KEYS = ("model", "handle", "pretrained_model_name_or_path", "model_name_or_path", "repo_or_dir", "arg0")
DESC_CHARS = 200


def load_api_database(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The API documentation entries, in file order (Gorilla's matcher takes the first match)."""

    def convert(row: Any) -> dict[str, Any]:
        if not isinstance(row, dict) or not isinstance(row.get("api_call"), str):
            raise ValueError("an API entry must be an object with a string 'api_call'")
        return row

    return list(read_records(path, convert))


def _identifier(arguments: dict[str, Any]) -> tuple[str, str] | None:
    for key in ID_KEYS:
        if isinstance(arguments.get(key), str):
            return key, arguments[key].strip()
    return None


class GorillaHub:
    """The API documentation, indexed by (call name, identifying argument value)."""

    def __init__(self, entries: Iterable[dict[str, Any]]):
        self.by_id: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        self.ids_by_name: dict[str, list[str]] = defaultdict(list)
        for entry in entries:
            calls = reference_calls(str(entry.get("api_call", "")))
            if not calls:
                continue
            call = call_to_toolcall(calls[0])
            ident = _identifier(call.arguments)
            if ident is None:
                continue
            self.by_id[(call.name, ident[1])].append((call.arguments, entry))
            self.ids_by_name[call.name].append(ident[1])

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> "GorillaHub":
        return cls(e for p in paths for e in load_api_database(p))

    @property
    def call_names(self) -> list[str]:
        return sorted(self.ids_by_name)

    def lookup(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """What the call would load; raises ToolError when no documented API matches."""
        ident = _identifier(arguments)
        if ident is None:
            raise ToolError(f"{name}: give the model to load ({' or '.join(ID_KEYS[:3])})")
        candidates = self.by_id.get((name, ident[1]))
        if not candidates:
            close = difflib.get_close_matches(ident[1], self.ids_by_name.get(name, []), n=3, cutoff=0.6)
            hint = f"; close: {', '.join(close)}" if close else ""
            raise ToolError(f"no documented {name} API for {ident[0]}={ident[1]!r}{hint}")
        # Prefer the entry whose documented call shares the most argument values with this call.
        _, entry = max(candidates, key=lambda c: sum(arguments.get(k) == v for k, v in c[0].items()))
        desc = " ".join(str(entry.get("description") or "").split())
        out = {"loaded": entry.get("api_name"), "framework": entry.get("framework"),
               "domain": entry.get("domain"), "functionality": entry.get("functionality"),
               "description": desc if len(desc) <= DESC_CHARS else desc[: DESC_CHARS - 1] + "…"}
        perf = entry.get("performance")
        if isinstance(perf, dict) and perf.get("dataset") not in (None, "N/A"):
            out["performance"] = {k: v for k, v in perf.items() if v not in (None, "N/A", "")}
        return out


class GorillaTool:
    """One hub entry point (e.g. `torch.hub.load`) with the schema an item or catalogue gives."""

    needs_world = False

    def __init__(self, schema: dict[str, Any], hub: GorillaHub, domain: str = "ml_hub"):
        self.schema, self.hub, self.domain, self.name = schema, hub, domain, schema["name"]

    def __call__(self, **arguments: Any) -> Any:
        return self.hub.lookup(self.name, arguments)


def hub_schema(name: str, hub: GorillaHub) -> dict[str, Any]:
    """A generic schema for an entry point: every argument any documented call uses."""
    props: dict[str, Any] = {}
    for (call_name, _), entries in hub.by_id.items():
        if call_name != name:
            continue
        for args, _ in entries:
            for key, value in args.items():
                props.setdefault(key, {"type": json_type(value)})
    ident = next((k for k in ID_KEYS if k in props), None)
    return {"name": name, "description": f"Load a pretrained model with {name} (offline: reports "
            "what would be loaded, from the API documentation).",
            "parameters": {"type": "object", "properties": props, "required": [ident] if ident else []}}


def gorilla_registry(paths: Iterable[str | Path], registry: ToolRegistry | None = None) -> ToolRegistry:
    """A registry with one tool per hub entry point found in the API documentation files."""
    hub = GorillaHub.from_files(paths)
    registry = registry or ToolRegistry()
    for name in hub.call_names:
        if name not in registry:
            registry.register(GorillaTool(hub_schema(name, hub), hub))
    return registry
