"""Tool sandbox: a registry of typed tools (schemas derived from signatures), the built-in offline
tools (travel, weather, calendar, finance, units, math, text, knowledge), simulated RapidAPI-style
tools with a record/replay cache, and Gorilla ML-hub APIs.

    from multiagentllm.tools import default_registry
    reg = default_registry()                 # a fresh, isolated environment
    reg.call("resolve_date", {"expression": "next Tuesday"}).content
"""

from __future__ import annotations

from datetime import datetime

from multiagentllm.tools.library import BUILTIN_TOOLS
from multiagentllm.tools.registry import (FunctionTool, Observation, ToolError, ToolRegistry, ToolTimeout,
                                          tool)
from multiagentllm.tools.world import DEFAULT_NOW, World


def default_registry(*, seed: int = 0, now: datetime | str | None = None,
                     timeout: float | None = 10.0) -> ToolRegistry:
    """A new registry of the built-in tools bound to a fresh `World` (seed and clock fixed, so
    runs are reproducible; call it once per episode to isolate episodes' state)."""
    reg = ToolRegistry(world=World(seed=seed, now=now or DEFAULT_NOW), default_timeout=timeout)
    reg.extend(BUILTIN_TOOLS)
    return reg


__all__ = ["default_registry", "ToolRegistry", "tool", "Observation", "FunctionTool", "ToolError",
           "ToolTimeout", "World", "DEFAULT_NOW"]
