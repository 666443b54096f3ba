"""Which system an evaluation runs: a trained checkpoint (the alpha-UMi trio or its single-LLM
baseline), an untrained base model with no adapters, or any OpenAI-compatible endpoint.

Heavy libraries (torch, transformers) load only when a model is actually built.
"""

from __future__ import annotations

from pathlib import Path

from multiagentllm.agent.loop import AgentConfig
from multiagentllm.eval.generate import System
from multiagentllm.models import load_llm
from multiagentllm.models.backends.hf import HFBackend, RoleModel
from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend
from multiagentllm.models.load import load_model_and_tokenizer
from multiagentllm.roles.registry import MODEL_ROLES


def load_system(checkpoint: str | None = None, *, single: bool = False, base: str | None = None,
                endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                name: str | None = None, agent: AgentConfig | None = None) -> System:
    """Exactly one of `base` / `endpoint` / a checkpoint (None = the shipped default) is used;
    `agent` sets the runtime's safeguards (all on by default)."""
    agent = agent or AgentConfig()
    if base and endpoint:
        raise ValueError("pass either --base or --endpoint, not both")
    if endpoint:
        if not model:
            raise ValueError("--endpoint needs --model (the served model name; may contain {role})")
        llm = OpenAIBackend(Endpoint(endpoint, model, api_key))
        return System(llm, single, name or f"{model.replace('{role}', 'role')}{'-single' if single else ''}",
                      agent=agent)
    if base:
        return System(_base_llm(base), single, name or f"base-{Path(base).name}{'-single' if single else ''}",
                      agent=agent)
    llm = load_llm(checkpoint, single=single)
    label = Path(getattr(llm, "source", "") or checkpoint or "default").name
    return System(llm, single, name or f"{label}{'-single' if single else ''}", agent=agent)


def _base_llm(base: str):
    """The untrained model behind every role: what GLPFT starts from."""
    model, tokenizer = load_model_and_tokenizer(base)
    model.eval()
    return HFBackend(tokenizer, {r: RoleModel(model) for r in MODEL_ROLES}, source=str(base))
