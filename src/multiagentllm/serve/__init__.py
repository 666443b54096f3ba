"""OpenAI-compatible HTTP server for the alpha-UMi agent (`alpha-umi`) and its role models.

Imports are lazy so that `umi --help` does not load FastAPI."""

from __future__ import annotations

from typing import Any

_EXPORTS = {"create_app": "multiagentllm.serve.app", "ServeConfig": "multiagentllm.serve.config",
            "AGENT_MODEL": "multiagentllm.serve.config", "ServerThread": "multiagentllm.serve.runner"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'multiagentllm.serve' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
