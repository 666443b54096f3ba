"""Turn a model name into something loadable: "embedded", a local Hugging Face directory, or a hub id.

Training and the runtime both go through `resolve_base`, so a checkpoint's manifest (`"base"`)
means the same weights everywhere, and every failure says what to do instead of a stack trace
from deep inside `transformers`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from multiagentllm.models.embedded import EMBEDDED_NAME, ModelNotFoundError, embedded_model_dir

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class NotCausalLMError(ModelNotFoundError):
    """The path holds something, but not a causal language model we can fine-tune or run."""


def resolve_base(name: str | Path) -> Path:
    """Return a local directory holding the model `name` (after checking it is a causal LM).

    `name` is "embedded" (SmolLM2-135M-Instruct, converted once and cached), a local model
    directory, or a hub id such as "TinyLlama/TinyLlama-1.1B-Chat-v1.0" (fetched into the
    Hugging Face cache; a clear error when no hub is reachable and it is not cached).
    """
    text = str(name)
    if text == EMBEDDED_NAME:
        return embedded_model_dir()
    path = Path(text).expanduser()
    if path.exists():
        check_causal_lm(path)
        return path
    if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model {text!r}: no such directory (pass 'embedded', a local "
                                 "Hugging Face model directory, or a hub id like owner/name)")
    local = _fetch_from_hub(text)
    check_causal_lm(local)
    return local


def _fetch_from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns))
    except Exception:
        pass
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as e:  # offline, unknown repo, gated repo: all mean "not usable here"
        raise ModelNotFoundError(
            f"model {repo_id!r} is not available offline and could not be fetched from the hub "
            f"({type(e).__name__}); download it elsewhere and pass its local directory") from None


def check_causal_lm(path: Path) -> dict[str, Any]:
    """Raise NotCausalLMError unless `path` is a Hugging Face causal-LM directory; return its config."""
    if not path.is_dir():
        raise NotCausalLMError(f"{path} is not a directory; a model is a Hugging Face model folder")
    config_file = path / "config.json"
    if not config_file.exists():
        if (path / "adapter_config.json").exists():
            raise NotCausalLMError(f"{path} is a PEFT adapter, not a model; pass the base model "
                                   "(or the checkpoint folder with manifest.json to the runtime)")
        raise NotCausalLMError(f"{path} is not a Hugging Face model directory (no config.json)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise NotCausalLMError(f"{config_file}: invalid JSON ({e.msg})") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = config.get("model_type")
    archs = config.get("architectures") or []
    # The architecture the weights were saved for decides (a BertForMaskedLM checkpoint has a
    # model_type AutoModelForCausalLM accepts, but would get a freshly initialised LM head).
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    ok = any(a in causal or str(a).endswith("ForCausalLM") for a in archs) if archs else (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if not ok:
        raise NotCausalLMError(f"{path} is not a causal LM (model_type {model_type!r}, "
                               f"architectures {archs}); pass a decoder-only model such as Llama")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise NotCausalLMError(f"{path} has a config but no weights (*.safetensors or *.bin)")
    return config


def load_model_and_tokenizer(name_or_path: str | Path, *, dtype: str = "float32",
                             device: str = "cpu") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (a pad token set, so batching works)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_base(name_or_path)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                   "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ValueError(f"dtype {dtype!r}: expected float32, bfloat16 or float16")
    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
    return model, tokenizer


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise NotCausalLMError(f"{path}: a fast (Rust) tokenizer is needed for span offsets")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
