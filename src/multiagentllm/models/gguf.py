"""`umi export gguf`: a trained LoRA checkpoint as GGUF files for llama.cpp (and Ollama).

llama.cpp applies LoRA adapters at run time and can switch them per request, so the layout is
the one `umi export vllm` writes, in GGUF:

    OUT/backbone.gguf                     base + stage 1, merged (the weights the roles trained on)
    OUT/adapters/{planner,caller,summarizer}.gguf   the role adapters as GGUF LoRA adapters
    OUT/serve.md                          the `llama-server` and Ollama lines that serve them

`merge_roles=True` writes each role merged into its own backbone instead (OUT/roles/ROLE.gguf,
no run-time adapters): no LoRA work per token, but the trio then holds three backbones, so three
times the weight memory (`benchmarks/bench_decode.py` measures both).

The backbone's metadata (hyper-parameters, the tokenizer's vocabulary and merges, the chat
template) comes from a template GGUF of the same base: the file the embedded model ships in, or
`--base-gguf` for another base (llama.cpp's `convert_hf_to_gguf.py` writes one from a model
folder). The weights come from the checkpoint. llama.cpp stores each head's query and key rows
rotary-pair-interleaved, not in halves as transformers does, so those rows (and the rows of the
adapters' B matrices on them) are reordered on the way out.

`umi run --checkpoint OUT` loads the export (`models/backends/llamacpp.py` reads it; that
module's `load_checkpoint` is how the llama.cpp engine runs a training checkpoint: exported here
once, into the cache). This module loads no torch at import: `umi export` and `umi --help` stay
quick; the weights are loaded when an export runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.checkpoint import (
    ADAPTER_CONFIG, ExportError, Manifest, adapter_weights, check_one_backbone, check_stage1_adapter,
    export_roles, load_backbone, merge_adapter, read_adapter_config, start_export, unservable)
from multiagentllm.io import atomic_dir
from multiagentllm.models.embedded import gguf_path
from multiagentllm.models.load import load_tokenizer, resolve_base
from multiagentllm.models.tokens import eos_ids
from multiagentllm.roles.registry import TRIO

EXPORT_INFO = "export.json"  # what `models.backends.llamacpp.load_gguf` reads: base, files, end tokens
GGUF_DTYPES = ("float32", "float16", "bfloat16", "q8_0")  # q8_0: 8-bit blocks of 32 (llama.cpp's own)
LLAMA_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Metadata that describes the template's own tensors, not the ones written here.
_NOT_COPIED = ("general.architecture", "general.file_type", "general.quantization_version")
# The template's hyper-parameters that must match the checkpoint's model config.
_HPARAMS = {"llama.block_count": "num_hidden_layers", "llama.embedding_length": "hidden_size",
            "llama.feed_forward_length": "intermediate_size",
            "llama.attention.head_count": "num_attention_heads",
            "llama.attention.head_count_kv": "num_key_value_heads", "llama.vocab_size": "vocab_size"}


@dataclass
class GGUFExport:
    out: Path
    backbone: Path | None  # None when each role is merged into its own model
    adapters: dict[str, Path]  # role -> OUT/adapters/ROLE.gguf
    single: Path | None = None
    models: dict[str, Path] = field(default_factory=dict)  # merged roles: role -> OUT/roles/ROLE.gguf
    notes: list[str] = field(default_factory=list)


def export_gguf(checkpoint: str | Path, out: str | Path, *, dtype: str = "float32",
                base_gguf: str | Path | None = None, merge_roles: bool = False,
                force: bool = False) -> GGUFExport:
    """Export `checkpoint` to `out`; see the module docstring. `dtype` is the backbone's
    (float32 keeps the in-process runtime's weights exactly; norms stay float32 in every case)."""
    manifest, out = start_export(checkpoint, out, dtype=dtype, dtypes=GGUF_DTYPES, force=force)
    _check_sources(manifest, merge_roles)
    template = _template(manifest, base_gguf)
    base_path = resolve_base(manifest.base)
    with atomic_dir(out) as tmp:  # renamed into place when written; the old `out` is removed only then
        (tmp / ("roles" if merge_roles else "adapters")).mkdir()
        if merge_roles:
            result, model = write_merged(manifest, base_path, template, tmp, out, dtype)
        else:
            result, model = write_shared(manifest, base_path, template, tmp, out, dtype)
        (tmp / "serve.md").write_text(serve_text(result, manifest, dtype), encoding="utf-8")
        (tmp / EXPORT_INFO).write_text(json.dumps(export_info(result, manifest, model, base_path, dtype),
                                                  indent=2) + "\n", encoding="utf-8")
    return result


def write_shared(manifest: Manifest, base_path: Path, template: Any, tmp: Path, out: Path,
                 dtype: str) -> tuple[GGUFExport, Any]:
    """One backbone and the role adapters (applied at run time) into `tmp`; the result names
    the final paths under `out`. Also returns the backbone (for its config and end tokens)."""
    model = load_backbone(base_path, manifest.stage1_for(manifest.roles[TRIO[0]].on))
    _check_template(template, model.config)
    write_model(model, template, tmp / "backbone.gguf", dtype)
    result = GGUFExport(out, out / "backbone.gguf", {})
    for role in TRIO:
        write_adapter(manifest.roles[role].path, model.config, tmp / "adapters" / f"{role}.gguf")
        result.adapters[role] = out / "adapters" / f"{role}.gguf"
    if "single" not in manifest.roles:
        result.notes.append(f"{manifest.root} has no single-LLM baseline yet; not exported")
    elif manifest.roles["single"].on != manifest.roles[TRIO[0]].on:
        result.notes.append("the single-LLM baseline was trained on other weights than the trio; "
                            "export it with `umi export vllm --merge-roles` and convert that")
    else:
        write_adapter(manifest.roles["single"].path, model.config, tmp / "adapters" / "single.gguf")
        result.single = out / "adapters" / "single.gguf"
    return result, model


def write_merged(manifest: Manifest, base_path: Path, template: Any, tmp: Path, out: Path,
                 dtype: str) -> tuple[GGUFExport, Any]:
    """Each role (and the single-LLM baseline, if trained) merged into the weights it was trained
    on, one full GGUF model per role, into `tmp/roles/`. Merged in float32 (as `umi export vllm
    --merge-roles` does), then written in `dtype`."""
    result = GGUFExport(out, None, {})
    model = None
    for role in [*TRIO, *(["single"] if "single" in manifest.roles else [])]:
        entry = manifest.roles[role]
        model = merge_adapter(load_backbone(base_path, manifest.stage1_for(entry.on)), entry.path)
        _check_template(template, model.config)
        write_model(model, template, tmp / "roles" / f"{role}.gguf", dtype)
        if role == "single":
            result.single = out / "roles" / "single.gguf"
        else:
            result.models[role] = out / "roles" / f"{role}.gguf"
    if "single" not in manifest.roles:
        result.notes.append(f"{manifest.root} has no single-LLM baseline yet; not exported")
    return result, model


# -- checks, before anything is loaded ------------------------------------------------------------

def _check_sources(manifest: Manifest, merge_roles: bool = False) -> None:
    roles = export_roles(manifest)
    if manifest.format != "lora":
        raise ExportError(f"{manifest.root} holds full models, not LoRA adapters; GGUF export "
                          "writes one backbone with runtime adapters (convert full models with "
                          "llama.cpp's convert_hf_to_gguf.py instead)")
    if not merge_roles:
        check_one_backbone(manifest)
    check_stage1_adapter(manifest, roles)
    for role in roles:
        adapter_weights(manifest.roles[role].path, f"the {role} adapter")
        if not merge_roles:  # merged adapters are PEFT's to fold in, whatever their kind
            check_adapter(manifest.roles[role].path / ADAPTER_CONFIG)


def check_adapter(path: Path) -> None:
    """What llama.cpp's runtime LoRA cannot apply, refused with the part named."""
    problems = unservable(read_adapter_config(path))
    if problems:
        raise ExportError(f"{path}: llama.cpp cannot apply a LoRA adapter with "
                          f"{', '.join(problems)}; merge it (`umi export vllm --merge-roles`) and "
                          "convert the merged model instead")


def _template(manifest: Manifest, base_gguf: str | Path | None) -> Any:
    import gguf

    if base_gguf is None:
        if manifest.base != "embedded":
            raise ExportError(f"the base of {manifest.root} is {manifest.base!r}; pass --base-gguf "
                              "with a GGUF of that base (llama.cpp's convert_hf_to_gguf.py writes "
                              "one) for its tokenizer and hyper-parameters")
        base_gguf = gguf_path()
    path = Path(base_gguf).expanduser()
    if not path.is_file():
        raise ExportError(f"--base-gguf {path} is not a file")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as e:
        raise ExportError(f"{path} does not read as GGUF: {e}") from None
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ExportError(f"{path}: architecture {arch!r}; GGUF export handles Llama models "
                          "(SmolLM2, TinyLlama) only")
    return reader


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def _check_template(reader: Any, config: Any) -> None:
    if getattr(config, "model_type", None) != "llama":
        raise ExportError(f"the checkpoint's model is {config.model_type!r}, not a Llama; "
                          "llama.cpp export handles Llama models only")
    for key, attr in _HPARAMS.items():
        have, want = _field(reader, key), getattr(config, attr, None)
        if have is not None and have != want:
            raise ExportError(f"the template GGUF does not match the checkpoint's base: {key} is "
                              f"{have}, the model's {attr} is {want}; pass the base's own GGUF")
    freq = _field(reader, "llama.rope.freq_base")
    if freq is not None and abs(freq - rope_theta(config)) > 1e-3 * rope_theta(config):
        raise ExportError(f"the template GGUF's llama.rope.freq_base is {freq}, the model's rope "
                          f"theta is {rope_theta(config)}; pass the base's own GGUF")
    if (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default") != "default":
        raise ExportError(f"the model uses {config.rope_parameters['rope_type']!r} rope scaling; "
                          "GGUF export handles plain rotary embeddings only")
    for attr in ("attention_bias", "mlp_bias"):
        if getattr(config, attr, False):
            raise ExportError(f"the model has {attr}; llama.cpp's Llama graph has no such bias")


def rope_theta(config: Any) -> float:
    """The rotary base of a transformers config (v5 keeps it in `rope_parameters`)."""
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0)


# -- tensors --------------------------------------------------------------------------------------

def interleave_rotary(w: Any, heads: int) -> Any:
    """Rows of a query/key projection (or of a LoRA B on one), from transformers' layout (each
    head's rotary pairs are (i, i + d/2)) to llama.cpp's (pairs are adjacent: (2i, 2i + 1))."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_name(hf_name: str, names: Any) -> str:
    gguf_name = names.get_name(hf_name, try_suffixes=(".weight",))
    if gguf_name is None:
        raise ExportError(f"no llama.cpp tensor for {hf_name!r}")
    return gguf_name


def _rotary_heads(hf_name: str, config: Any) -> int | None:
    if ".q_proj." in hf_name:
        return config.num_attention_heads
    if ".k_proj." in hf_name:
        return config.num_key_value_heads
    return None


def write_model(model: Any, template: Any, path: Path, dtype: str) -> None:
    """The model's weights, with the template's metadata, as one GGUF file."""
    import gguf
    import numpy as np

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    writer = gguf.GGUFWriter(path, "llama")
    for key, f in template.fields.items():
        if key.startswith("GGUF.") or key in _NOT_COPIED:
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, f.contents(), f.types[0], sub)
    file_type = {"float32": gguf.LlamaFileType.ALL_F32, "float16": gguf.LlamaFileType.MOSTLY_F16,
                 "bfloat16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype]
    writer.add_file_type(file_type)
    tied = getattr(config, "tie_word_embeddings", False)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reads the output projection from token_embd when output is absent
        w = tensor.detach().float().numpy()
        heads = _rotary_heads(hf_name, config)
        if heads:
            w = interleave_rotary(w, heads)
        name = _gguf_name(hf_name, names)
        if w.ndim == 1 or dtype == "float32":
            writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float32))
        elif dtype == "float16":
            writer.add_tensor(name, w.astype(np.float16))
        else:
            qtype = {"bfloat16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[dtype]
            writer.add_tensor(name, gguf.quants.quantize(w, qtype), raw_dtype=qtype)
    _finish(writer)


def write_adapter(folder: Path, config: Any, path: Path) -> None:
    """A PEFT LoRA adapter as a GGUF LoRA adapter. llama.cpp scales each pair by alpha / rank;
    PEFT's own scaling (rank and alpha patterns, rsLoRA) is folded into B so the product is the
    same."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    peft = read_adapter_config(folder / ADAPTER_CONFIG)
    alpha = float(peft.get("lora_alpha") or 8)
    weights = {k: v.float().numpy() for k, v in
               load_file(adapter_weights(folder, f"the adapter at {folder}")).items()}
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    pairs = 0
    for key in sorted(weights):
        if ".lora_A." not in key:
            if ".lora_B." not in key:
                raise ExportError(f"{folder}: tensor {key!r} is not a LoRA A or B matrix; llama.cpp "
                                  "cannot apply it")
            continue
        module = key.split(".lora_A.")[0].removeprefix("base_model.model.")
        linear = module.rsplit(".", 1)[-1]
        if linear not in LLAMA_LINEARS:
            raise ExportError(f"{folder}: an adapter on {module} (llama.cpp export handles the "
                              f"attention and MLP projections: {', '.join(LLAMA_LINEARS)})")
        a = weights[key].astype(np.float32)
        b_key = key.replace(".lora_A.", ".lora_B.")
        if b_key not in weights:
            raise ExportError(f"{folder}: {key} has no matching {b_key}")
        rank = a.shape[0]
        b = weights[b_key].astype(np.float32) * (_peft_scaling(peft, module, rank) * rank / alpha)
        heads = _rotary_heads(module + ".", config)
        if heads:
            b = interleave_rotary(b, heads)
        name = _gguf_name(module + ".weight", names)
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b))
        pairs += 1
    if not pairs:
        raise ExportError(f"{folder}: the adapter holds no LoRA matrices")
    _finish(writer)


def _peft_scaling(peft: dict[str, Any], module: str, rank: int) -> float:
    """PEFT's scaling of one module: alpha (or its alpha_pattern entry) over the rank, or over
    its square root with rsLoRA."""
    alpha = float(peft.get("lora_alpha") or 8)
    for pattern, value in (peft.get("alpha_pattern") or {}).items():
        if module.endswith(pattern) or pattern in module.split("."):
            alpha = float(value)
    return alpha / (rank ** 0.5 if peft.get("use_rslora") else rank)


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def export_info(result: GGUFExport, manifest: Manifest, model: Any, base_path: Path,
                dtype: str) -> dict[str, Any]:
    """What `models.backends.llamacpp.load_gguf` needs: the base (for the tokenizer), the files
    (relative to the export), the end tokens, and where it came from."""
    files = {**(result.models or result.adapters), **({"single": result.single} if result.single else {})}
    info = {"base": manifest.base, "prompt_version": manifest.prompt_version,
            "checkpoint": str(manifest.root.resolve()), "dtype": dtype}
    if result.backbone is None:  # merged: one full model per role
        info["models"] = {r: str(p.relative_to(result.out)) for r, p in files.items()}
    else:
        info["backbone"] = result.backbone.name
        info["adapters"] = {r: str(p.relative_to(result.out)) for r, p in files.items()}
    return {**info, "eos": sorted(eos_ids(model, load_tokenizer(base_path)))}


# -- serve.md -------------------------------------------------------------------------------------

def serve_text(result: GGUFExport, manifest: Manifest, dtype: str) -> str:
    """How to run the export in process, with llama-server, and with Ollama."""
    query = '"What will the weather be like in Paris tomorrow?"'
    what = "each role merged into its own model" if result.backbone is None else "backbone"
    lines = [f"# Serving `{manifest.root}` with llama.cpp", "",
             f"Exported by `umi export gguf` from `{manifest.root}` (base `{manifest.base}`, prompt "
             f"format `{manifest.prompt_version}`), {what} in {dtype}.", "",
             "## In process", "",
             "`umi` loads the export as a checkpoint (`umi run` / `umi serve` / `umi eval` on the "
             "training checkpoint itself export it to the cache on first use):", "",
             "```bash",
             f"umi run {query} --checkpoint {result.out}",
             "```", "",
             *(_merged_servers(result) if result.backbone is None else _adapter_servers(result)),
             "Prompts must be rendered by `multiagentllm.roles` (the `umi` commands do that).", ""]
    lines += [f"Note: {n}." for n in result.notes]
    return "\n".join(lines).rstrip() + "\n"


def _adapter_servers(result: GGUFExport) -> list[str]:
    adapters = {**result.adapters, **({"single": result.single} if result.single else {})}
    lora_flags = " ".join(f"--lora {adapters[r]}" for r in adapters)
    ids = ", ".join(f"{r} = {i}" for i, r in enumerate(adapters))
    lines = ["## llama-server: one server, the backbone with the role adapters", "",
             "The adapters load with scale 0 and each request picks its role's adapter by id "
             f"({ids}):", "",
             "```bash",
             f"llama-server -m {result.backbone} {lora_flags} --lora-init-without-apply \\",
             "  --ctx-size 8192 --port 8080",
             "# a caller turn: POST /completion with",
             '#   {"prompt": "...", "lora": [{"id": 1, "scale": 1.0}], "temperature": 0, "n_predict": 192}',
             "```", "",
             "## Ollama: one model per role, all on the same backbone blob", ""]
    for role, path in adapters.items():
        lines += [f"`Modelfile.{role}`:", "", "```", f"FROM {result.backbone}", f"ADAPTER {path}",
                  "PARAMETER temperature 0", "```", "",
                  f"`ollama create umi-{role} -f Modelfile.{role}`", ""]
    return lines


def _merged_servers(result: GGUFExport) -> list[str]:
    models = {**result.models, **({"single": result.single} if result.single else {})}
    lines = ["## llama-server: one server per role (each a full model)", "", "```bash",
             *(f"llama-server -m {path} --ctx-size 8192 --port {8081 + i} &"
               for i, path in enumerate(models.values())),
             "```", "",
             "## Ollama: one model per role", ""]
    for role, path in models.items():
        lines += [f"`Modelfile.{role}`:", "", "```", f"FROM {path}", "PARAMETER temperature 0", "```", "",
                  f"`ollama create umi-{role} -f Modelfile.{role}`", ""]
    return lines
