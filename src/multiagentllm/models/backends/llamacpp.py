"""The trio on llama.cpp (through `llama-cpp-python`'s C API bindings), in process.

Why: at batch 1 on a CPU the torch runners spend most of each token on per-operation overhead
(hundreds of small ops); llama.cpp runs a whole forward as one graph of fused, vectorised
kernels. The weights are the checkpoint's own: `umi export gguf` writes the backbone (base and
stage 1 merged) and the role adapters, which llama.cpp applies at run time, switched per call,
so the trio costs the memory of one model.

Only the forward is llama.cpp's. Prompts are tokenized by the same transformers tokenizer as the
torch path, and decoding is `decode.generate`: the same greedy loop, stop strings, prompt-lookup
drafts and grammar masks (`constrain.Matcher`, fed llama.cpp's logits). Each adapter keeps its
own KV sequence in one context, and a new prompt re-uses the longest prefix that sequence holds
(role prompts are prefix-stable across an episode's steps). An export with the roles merged
(`umi export gguf --merge-roles`) gives each role its own model and context, without adapters.

A training checkpoint runs here through `load_checkpoint`: written once as GGUF by
`models.gguf.export_gguf` into the cache, then loaded like any export.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multiagentllm.checkpoint import Manifest
from multiagentllm.models.backends.constrain import Constrainer
from multiagentllm.models.backends.decode import generate
from multiagentllm.models.embedded import cache_root
from multiagentllm.models.gguf import EXPORT_INFO, export_gguf
from multiagentllm.models.load import load_tokenizer, resolve_base
from multiagentllm.models.tokens import encode
from multiagentllm.roles.registry import episode_roles

N_CTX = 8192  # KV positions shared by the role sequences; the oldest other sequence is dropped when full
N_BATCH = 512  # prompt tokens per forward while prefilling
# Prompt-lookup drafts are off by default here: a verify forward of 9 tokens costs llama.cpp on a
# CPU several single-token steps, so on the trio's acceptance rates they lose on the planner and
# the summarizer and win ~12% on the caller (results/decode/decode.md); `--draft-tokens` sets them.
DRAFT_TOKENS = 0


class LlamaCppError(RuntimeError):
    """llama.cpp is missing or refused a file; the message names it."""


def available() -> str | None:
    """None when llama.cpp's Python bindings import, else why not."""
    try:
        import llama_cpp.llama_cpp  # noqa: F401
    except Exception as e:  # a missing or broken native build raises OSError, ImportError, ...
        return f"{type(e).__name__}: {e}"
    return None


def _lib() -> Any:
    import llama_cpp.llama_cpp as lib

    return lib


_BACKEND_READY = False


def _init_backend() -> None:
    global _BACKEND_READY
    if not _BACKEND_READY:
        lib = _lib()
        lib.llama_log_set(_QUIET, ctypes.c_void_p())
        lib.llama_backend_init()
        _BACKEND_READY = True


def _quiet(level: int, text: bytes, data: Any) -> None:
    if level == 2 and os.environ.get("UMI_LLAMACPP_LOG"):  # GGML_LOG_LEVEL_ERROR
        print(text.decode(errors="replace"), end="", file=sys.stderr)


_QUIET = None
try:
    import llama_cpp.llama_cpp as _bindings

    _QUIET = _bindings.llama_log_callback(_quiet)
except Exception:  # the bindings are optional; `available()` reports why
    pass


class LlamaCppModel:
    """One GGUF backbone, one context, and its LoRA adapters (one KV sequence per adapter). An
    adapter given as None is the backbone as it is (a role merged into its own model)."""

    def __init__(self, backbone: Path, adapters: dict[str, Path | None], *, threads: int | None = None,
                 n_ctx: int = N_CTX):
        _init_backend()
        lib = _lib()
        self.lib = lib
        params = lib.llama_model_default_params()
        params.n_gpu_layers = 0
        self.model = lib.llama_model_load_from_file(str(backbone).encode(), params)
        if not self.model:
            raise LlamaCppError(f"llama.cpp could not load {backbone} (set UMI_LLAMACPP_LOG=1 to see why)")
        cparams = lib.llama_context_default_params()
        threads = threads or torch.get_num_threads()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = n_ctx, N_BATCH, N_BATCH
        cparams.n_seq_max = max(1, len(adapters))
        cparams.kv_unified = True
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise LlamaCppError(f"llama.cpp could not create a context for {backbone}")
        self.memory = lib.llama_get_memory(self.ctx)
        self.vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
        self.n_ctx = n_ctx
        self.adapters: dict[str, Any] = {}
        for name, path in adapters.items():
            handle = None if path is None else lib.llama_adapter_lora_init(self.model, str(path).encode())
            if path is not None and not handle:
                raise LlamaCppError(f"llama.cpp refused the adapter {path} (set UMI_LLAMACPP_LOG=1 to see why)")
            self.adapters[name] = handle
        self.seq = {name: i for i, name in enumerate(adapters)}
        self.tokens: dict[str, list[int]] = {name: [] for name in adapters}  # what each sequence holds
        self.active: str | None = None
        self.batch = lib.llama_batch_init(N_BATCH, 0, 1)

    def use(self, adapter: str) -> None:
        if adapter == self.active:
            return
        handle = self.adapters[adapter]
        handles = (self.lib.llama_adapter_lora_p_ctypes * 1)(handle) if handle else None
        scales = (ctypes.c_float * 1)(1.0) if handle else None
        if self.lib.llama_set_adapters_lora(self.ctx, handles, 1 if handle else 0, scales) != 0:
            raise LlamaCppError(f"llama.cpp could not switch to the {adapter} adapter")
        self.active = adapter

    def truncate(self, adapter: str, keep: int) -> None:
        """Drop the sequence's tokens from position `keep` on."""
        self.lib.llama_memory_seq_rm(self.memory, self.seq[adapter], keep, -1)
        del self.tokens[adapter][keep:]

    def feed(self, adapter: str, tokens: list[int], *, every: bool) -> np.ndarray:
        """Append `tokens` to the adapter's sequence; the logits after the last token (1, V),
        or after each of them (n, V) with `every`."""
        self.use(adapter)
        if len(self.tokens[adapter]) + len(tokens) > self.n_ctx:
            raise LlamaCppError(f"{len(self.tokens[adapter]) + len(tokens)} tokens do not fit the "
                                f"context of {self.n_ctx}")
        out = []
        for start in range(0, len(tokens), N_BATCH):
            chunk = tokens[start: start + N_BATCH]
            last_chunk = start + N_BATCH >= len(tokens)
            self._fill(adapter, chunk, every=every, last=last_chunk)
            self._decode(adapter)
            if every:
                out += [self._logits(i) for i in range(len(chunk))]
            elif last_chunk:
                out.append(self._logits(len(chunk) - 1))
        return np.stack(out)

    def _fill(self, adapter: str, chunk: list[int], *, every: bool, last: bool) -> None:
        b, seq, pos = self.batch, self.seq[adapter], len(self.tokens[adapter])
        for i, tok in enumerate(chunk):
            b.token[i] = tok
            b.pos[i] = pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = every or (last and i == len(chunk) - 1)
        b.n_tokens = len(chunk)
        self.tokens[adapter].extend(chunk)

    def _decode(self, adapter: str) -> None:
        code = self.lib.llama_decode(self.ctx, self.batch)
        if code == 1:  # no room in the KV cache: drop the other sequences and try once more
            for other in self.seq:
                if other != adapter and self.tokens[other]:
                    self.truncate(other, 0)
            code = self.lib.llama_decode(self.ctx, self.batch)
        if code != 0:
            del self.tokens[adapter][-self.batch.n_tokens:]
            raise LlamaCppError(f"llama_decode failed with code {code}")

    def _logits(self, i: int) -> np.ndarray:
        ptr = self.lib.llama_get_logits_ith(self.ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab,)).copy()

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self.lib.llama_batch_free(self.batch)
            for handle in self.adapters.values():
                if handle:
                    self.lib.llama_adapter_lora_free(handle)
            self.lib.llama_free(self.ctx)
            self.lib.llama_model_free(self.model)
            self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class LlamaCppRunner:
    """`decode.Runner` for one role (adapter) of a `LlamaCppModel`, with the prefix reuse,
    `extend` and `rollback` that prompt-lookup drafting needs."""

    def __init__(self, model: LlamaCppModel, adapter: str):
        self.model, self.adapter = model, adapter
        self.reused_tokens = 0
        self.proposed = self.accepted = 0

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor | None, max_len: int) -> torch.Tensor:
        if mask is not None or ids.shape[0] != 1:
            raise ValueError("the llama.cpp runner takes one unpadded prompt at a time")
        new = ids[0].tolist()
        held = self.model.tokens[self.adapter]
        reuse = 0
        for a, b in zip(held, new[:-1]):  # keep at least one token to run
            if a != b:
                break
            reuse += 1
        self.model.truncate(self.adapter, reuse)
        self.reused_tokens += reuse
        return torch.from_numpy(self.model.feed(self.adapter, new[reuse:], every=False))

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.model.feed(self.adapter, [int(tokens[0])], every=False))

    def extend(self, tokens: list[int]) -> torch.Tensor:
        return torch.from_numpy(self.model.feed(self.adapter, tokens, every=True))

    def rollback(self, n: int) -> None:
        held = len(self.model.tokens[self.adapter])
        if n > held:
            raise ValueError(f"cannot roll back {n} of {held} cached tokens")
        if n > 0:
            self.model.truncate(self.adapter, held - n)


class LlamaCppBackend:
    """`LLM` over a `umi export gguf` folder: the roles share one llama.cpp model (or, merged,
    each role has its own)."""

    constrains = True  # `complete` takes grammars (see roles.grammar)

    def __init__(self, tokenizer: Any, models: list[LlamaCppModel], eos: set[int], *, source: str = "",
                 draft_tokens: int = DRAFT_TOKENS):
        self.tokenizer, self.models, self.eos, self.source = tokenizer, models, eos, source
        self.draft_tokens = draft_tokens
        self.roles = {name: LlamaCppRunner(m, name) for m in models for name in m.adapters}
        self._constrainer: Any = None

    @property
    def model(self) -> LlamaCppModel:
        """The model the roles share (an export with merged roles has one per role: `runner(role).model`)."""
        if len(self.models) != 1:
            raise AttributeError(f"{self.source or 'this backend'} holds one model per role; use runner(role).model")
        return self.models[0]

    def close(self) -> None:
        for m in self.models:
            m.close()

    def runner(self, role: str) -> LlamaCppRunner:
        if role not in self.roles:
            where = f" in {self.source}" if self.source else ""
            raise KeyError(f"no {role!r} model{where} (available roles: {', '.join(sorted(self.roles))})")
        return self.roles[role]

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        runner = self.runner(role)
        grammars = constraint if isinstance(constraint, list) else [constraint] * len(prompts)
        if len(grammars) != len(prompts):
            raise ValueError(f"{len(grammars)} constraints for {len(prompts)} prompts")
        out = []
        for prompt, grammar in zip(prompts, grammars):
            matcher = self.matcher(grammar)
            out += generate(runner, self.tokenizer, [encode(self.tokenizer, prompt)],
                            max_new_tokens=max_new_tokens, stop=stop, eos=self.eos, pad_id=0,
                            draft_tokens=self.draft_tokens, matchers=[matcher])
        return out

    def matcher(self, grammar: Any) -> Any:
        if grammar is None:
            return None
        if self._constrainer is None:
            self._constrainer = Constrainer(self.tokenizer, self.models[0].vocab)
        return self._constrainer.matcher(grammar)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))


# -- loading --------------------------------------------------------------------------------------

def read_export(folder: str | Path) -> dict[str, Any]:
    """The `export.json` that `umi export gguf` writes beside the files."""
    path = Path(folder).expanduser() / EXPORT_INFO
    if not path.exists():
        raise LlamaCppError(f"{path.parent} has no {EXPORT_INFO}; is it a folder written by `umi export gguf`?")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise LlamaCppError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    for key in ("base", "eos", *(() if "models" in info else ("backbone", "adapters"))):
        if key not in info:
            raise LlamaCppError(f"{path}: missing {key!r}")
    return info


def load_gguf(folder: str | Path, *, single: bool = False, threads: int | None = None,
              draft_tokens: int | None = None) -> LlamaCppBackend:
    """An `LLM` over a `umi export gguf` folder (the trio, or the single-LLM adapter)."""
    reason = available()
    if reason:
        raise LlamaCppError(f"llama.cpp is not installed ({reason}); `pip install llama-cpp-python` "
                            "(a source build) or use the torch backend")
    folder = Path(folder).expanduser()
    info = read_export(folder)
    wanted = episode_roles(single)
    merged = info.get("models")  # role -> its own full model, or None: one backbone + adapters
    missing = [r for r in wanted if r not in (merged or info["adapters"])]
    if missing:
        raise LlamaCppError(f"{folder} has no {', '.join(missing)} {'model' if merged else 'adapter'}")
    tokenizer = load_tokenizer(resolve_base(info["base"]))
    if merged:
        models = [LlamaCppModel(folder / merged[r], {r: None}, threads=threads) for r in wanted]
    else:
        models = [LlamaCppModel(folder / info["backbone"], {r: folder / info["adapters"][r] for r in wanted},
                                threads=threads)]
    backend = LlamaCppBackend(tokenizer, models, {int(t) for t in info["eos"]}, source=str(folder))
    if draft_tokens is not None:
        backend.draft_tokens = draft_tokens
    return backend


def load_checkpoint(manifest: Manifest, *, single: bool = False, dtype: str = "float16",
                    draft_tokens: int | None = None) -> LlamaCppBackend:
    """A trained checkpoint on llama.cpp: exported to GGUF once (about 20 s, into the cache,
    keyed by the checkpoint's files), then loaded from there."""
    root = manifest.root.resolve()
    folder = cache_root() / "gguf" / f"{root.name}-{checkpoint_key(root, dtype)}"
    if not (folder / EXPORT_INFO).exists():
        print(f"exporting {root} to GGUF for llama.cpp (once): {folder}", file=sys.stderr, flush=True)
        export_gguf(root, folder, dtype=dtype, force=True)
    backend = load_gguf(folder, single=single, draft_tokens=draft_tokens)
    backend.source = str(manifest.root)
    return backend


def checkpoint_key(root: Path, dtype: str) -> str:
    """A key that changes whenever the checkpoint's weights do (file sizes and times)."""
    h = hashlib.sha256(dtype.encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".json", ".bin"):
            st = path.stat()
            h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
