"""`load_llm`: a trained checkpoint directory (its layout and manifest: `multiagentllm.checkpoint`)
as one `LLM`.

With LoRA, the roles trained on the same weights ("on": "stage1" = base merged with the stage-1
adapter, or "base") share ONE model holding one adapter per role, switched per call: the trio
costs about the memory of one model. `separate=True` (or `"format": "full"`) gives each role its
own model instead.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from multiagentllm.checkpoint import MANIFEST, CheckpointError, Manifest, load_backbone, read_manifest
from multiagentllm.models.backends.hf import HFBackend, RoleModel
from multiagentllm.models.load import load_tokenizer, resolve_base
from multiagentllm.paths import repo_path
from multiagentllm.roles.registry import TRIO
from multiagentllm.roles.render import PROMPT_VERSION

DEFAULT_NAMES = ("cpu-full", "cpu-demo")  # preferred shipped checkpoints under checkpoints/
TRAIN_HINT = ("train it with `umi data build --out out/data` then `umi train glpft --preset cpu-demo "
              "--data out/data --out checkpoints/cpu-demo`, or pass --checkpoint DIR (a folder with "
              "manifest.json written by `umi train`)")


ENGINES = ("auto", "torch", "llamacpp")
GGUF_DTYPE = "float16"  # the llama.cpp engine's backbone: as fast as bfloat16 here, closer to float32 text (results/decode)


def repo_checkpoints() -> Path:
    return repo_path("checkpoints")


def default_checkpoint() -> Path:
    """The trio the repository ships under checkpoints/, or a CheckpointError saying how to train one."""
    root = repo_checkpoints()
    found = [root / n for n in DEFAULT_NAMES if (root / n / MANIFEST).exists()]
    if not found and root.is_dir():
        found = sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))
    if not found:
        raise CheckpointError("the embedded default model (SmolLM2-135M) has not been trained yet: "
                              f"no checkpoint under {root}; {TRAIN_HINT}")
    # A chain trained stage by stage ships its finished stages first: prefer a checkpoint whose
    # trio is complete, else name the first one (loading it says which roles are missing).
    for path in found:
        try:
            if set(TRIO) <= set(read_manifest(path).roles):
                return path
        except CheckpointError:
            continue
    return found[0]


def engine_for(manifest: Manifest, *, single: bool = False, engine: str | None = None,
               dtype: Any = None, device: Any = None, separate: bool = False) -> tuple[str, str | None]:
    """Which engine decodes this checkpoint: ("llamacpp", None) or ("torch", why not llama.cpp).

    `engine` "auto" (the default; `UMI_ENGINE` overrides it) takes llama.cpp on a CPU whenever it
    can run the checkpoint as exported: LoRA roles on one backbone, the embedded base (whose GGUF
    supplies the tokenizer metadata), no explicit dtype. "torch" always takes the torch runners;
    "llamacpp" takes llama.cpp or fails saying why."""
    engine = engine or os.environ.get("UMI_ENGINE") or "auto"
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "torch":
        return "torch", "asked for"
    roles = (*TRIO, "single") if single else TRIO  # the export's backbone is the trio's
    reason = None
    if separate or dtype is not None or (device is not None and str(device) != "cpu"):
        reason = "a device, dtype or separate models were asked for"
    elif _cuda():
        reason = "a GPU is present"
    elif manifest.format != "lora" or manifest.base != "embedded":
        reason = "only LoRA checkpoints of the embedded base are exported automatically"
    elif any(r not in manifest.roles for r in roles) or len({manifest.roles[r].on for r in roles}) > 1:
        reason = "the roles do not share one backbone"
    else:
        reason = _llamacpp().available()
        if reason and engine == "auto":
            warnings.warn(f"llama.cpp is not available ({reason}); decoding with the slower torch "
                          "runner (install llama-cpp-python, see the README)", stacklevel=3)
    if reason is None:
        return "llamacpp", None
    if engine == "llamacpp":
        raise CheckpointError(f"{manifest.root}: the llama.cpp engine cannot run it: {reason}")
    return "torch", reason


def _llamacpp() -> ModuleType:
    """The llama.cpp engine, imported only when a checkpoint may run on it: the module loads torch
    and numpy (+1.7 s on `import multiagentllm.models`, measured with `python -X importtime`),
    which the OpenAI backend, the torch-engine choice and `umi --help` never need."""
    from multiagentllm.models.backends import llamacpp

    return llamacpp


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def engine_label(manifest: Manifest, **kw: Any) -> str:
    """The engine's name as it enters evaluation fingerprints ("torch" or "llamacpp-DTYPE")."""
    name, _ = engine_for(manifest, **kw)
    return name if name == "torch" else f"{name}-{GGUF_DTYPE}"


def load_llm(checkpoint: str | Path | None = None, *, single: bool = False, dtype: Any = None,
             device: Any = None, separate: bool = False, lean: bool = True,
             draft_tokens: int | None = None, engine: str | None = None) -> Any:
    """An `LLM` serving the trio (or the single-LLM baseline with `single=True`) of a
    checkpoint; `None` means the shipped default. `engine` (see `engine_for`) picks llama.cpp
    (`LlamaCppBackend`, on the checkpoint exported once to GGUF in the cache) or the torch
    runners (`HFBackend`); with torch, `dtype`/`device` default to float32 on CPU and bfloat16 on
    CUDA. `draft_tokens` sets prompt-lookup speculation (0 turns it off)."""
    if checkpoint is not None and (Path(checkpoint) / "export.json").exists() and not (
            Path(checkpoint) / MANIFEST).exists():  # a `umi export gguf` folder
        return _llamacpp().load_gguf(checkpoint, single=single, draft_tokens=draft_tokens)
    manifest = read_manifest(default_checkpoint() if checkpoint is None else checkpoint)
    if manifest.prompt_version and manifest.prompt_version != PROMPT_VERSION:
        warnings.warn(f"{manifest.root} was trained with prompts {manifest.prompt_version!r}, this "
                      f"runtime renders {PROMPT_VERSION!r}; outputs may not follow the format",
                      stacklevel=2)
    wanted = ("single",) if single else TRIO
    missing = [r for r in wanted if r not in manifest.roles]
    if missing:
        have = ", ".join(sorted(manifest.roles)) or "none"
        raise CheckpointError(f"{manifest.root} has no {', '.join(missing)} model yet (trained roles: "
                              f"{have}); finish its training chain or pick another checkpoint")
    for role in wanted:
        _check_folder(manifest.roles[role].path, manifest.format, role)
    if draft_tokens is not None and draft_tokens < 0:
        raise ValueError(f"draft_tokens must be >= 0, got {draft_tokens}")
    if engine_for(manifest, single=single, engine=engine, dtype=dtype, device=device,
                  separate=separate)[0] == "llamacpp":
        return _llamacpp().load_checkpoint(manifest, single=single, dtype=GGUF_DTYPE, draft_tokens=draft_tokens)
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = _dtype(dtype, device)
    base_path = resolve_base(manifest.base)
    tokenizer = load_tokenizer(base_path)
    if manifest.format == "full":
        roles = {r: _full(manifest.roles[r].path, dtype, device) for r in wanted}
    elif separate:
        roles = {r: _separate(manifest, base_path, r, dtype, device) for r in wanted}
    else:
        roles = _shared(manifest, base_path, wanted, dtype, device)
    backend = HFBackend(tokenizer, roles, lean=lean, source=str(manifest.root))
    if draft_tokens is not None:
        backend.draft_tokens = draft_tokens
    return backend


def _dtype(dtype: Any, device: Any) -> Any:
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype not in names:
            raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(names)}")
        return names[dtype]
    return dtype


def _check_folder(path: Path, fmt: str, role: str) -> None:
    need = "adapter_config.json" if fmt == "lora" else "config.json"
    if not (path / need).exists():
        raise CheckpointError(f"the {role} weights at {path} are missing ({need} not found); "
                              "the stage may not have finished")


def _load(path: Path, dtype: Any, device: Any) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.to(device).eval().requires_grad_(False)


def _full(path: Path, dtype: Any, device: Any) -> Any:
    return RoleModel(_load(path, dtype, device))


def _weights_on(manifest: Manifest, base_path: Path, on: str, dtype: Any, device: Any) -> Any:
    """The weights a role adapter was trained on: the base, or the base merged with stage 1."""
    stage1 = manifest.stage1_for(on)
    if stage1 is not None:
        _check_folder(stage1, "lora", "stage-1 backbone")
    return load_backbone(base_path, stage1, dtype=dtype, device=device).requires_grad_(False)


def _separate(manifest: Manifest, base_path: Path, role: str, dtype: Any, device: Any) -> Any:
    from peft import PeftModel

    entry = manifest.roles[role]
    model = _weights_on(manifest, base_path, entry.on, dtype, device)
    return RoleModel(PeftModel.from_pretrained(model, entry.path).merge_and_unload().eval())


def _shared(manifest: Manifest, base_path: Path, wanted: tuple[str, ...], dtype: Any,
            device: Any) -> dict[str, Any]:
    """One model per distinct "on" (normally one), holding every role's adapter."""
    from peft import PeftModel

    roles: dict[str, Any] = {}
    for on in sorted({manifest.roles[r].on for r in wanted}):
        model = None
        for role in (r for r in wanted if manifest.roles[r].on == on):
            path = manifest.roles[role].path
            if model is None:
                model = PeftModel.from_pretrained(
                    _weights_on(manifest, base_path, on, dtype, device), path, adapter_name=role)
            else:
                model.load_adapter(path, adapter_name=role)
            roles[role] = RoleModel(model, role)
        model.eval().requires_grad_(False)
    return roles
