"""Model backends behind the `LLM` protocol (`complete(prompts, *, role, max_new_tokens, stop)`).

- `ScriptedLLM`: outputs written in advance (tests, demos).
- `OpenAIBackend`: any OpenAI-compatible completions endpoint, one per role (vLLM, llama.cpp
  server, the project's own server).
- `HFBackend`: in-process transformers; one base model with the role LoRA adapters switched per
  call, or separate models per role (`load_llm` builds it from a checkpoint directory).

Importing this package is cheap: torch and transformers load only when a HF backend is built.
"""

from multiagentllm.checkpoint import CheckpointError, read_manifest
from multiagentllm.models.backends.checkpoint import load_llm
from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend
from multiagentllm.models.backends.scripted import ScriptedLLM, cut_at_stop

__all__ = ["CheckpointError", "Endpoint", "OpenAIBackend", "ScriptedLLM", "cut_at_stop", "load_llm",
           "read_manifest"]
