"""multiagentllm: the alpha-UMi multi-LLM tool agent (planner, caller, summarizer) on small models."""

__version__ = "0.1.0"
