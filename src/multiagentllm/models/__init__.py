"""Models: the embedded default, base-model resolution, the shared tokenization rule, and the
runtime backends. `load_llm(checkpoint)` turns a trained checkpoint directory into an `LLM`."""

from multiagentllm.models.backends.checkpoint import load_llm

__all__ = ["load_llm"]
