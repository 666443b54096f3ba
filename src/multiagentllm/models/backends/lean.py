"""A lean greedy-decoding runner for Llama-architecture models (SmolLM2, TinyLlama).

Why: at batch 1 on a CPU a 135M model is bound by per-op Python overhead, not arithmetic; the
transformers forward (mask construction, cache objects, hooks, PEFT wrappers) costs several times
the matrix products. This runner reads the *same* weight tensors (no copy) and runs the Llama
equations with plain torch ops and a preallocated KV cache. LoRA adapters are applied unmerged
(`x W^T + s (x A^T) B^T`) from whichever PEFT adapter is active at prefill time, so switching roles
stays a pointer change and memory stays one base model.

Prefix reuse: the role prompts are prefix-stable (step t's prompt extends step t-1's), so for
unpadded single prompts the runner keeps each adapter's last KV cache and prefills only the tokens
after the longest common prefix. On a CPU, where prefilling a 500-token prompt costs seconds,
this is most of an episode's latency.

It only takes models it can run exactly (`unsupported_reason` says why not); everything else
goes through `decode.HFRunner`. Tests check that both give the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _is_lora(module: Any) -> bool:
    return hasattr(module, "base_layer") and hasattr(module, "lora_A")


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def unsupported_reason(model: Any) -> str | None:
    """None when `LeanLlama` runs `model` exactly, else why it cannot."""
    base = _base(model)
    cfg = base.config
    if getattr(cfg, "model_type", None) != "llama":
        return f"model_type is {getattr(cfg, 'model_type', None)!r}, not 'llama'"
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        return "linear layers with bias"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"activation {cfg.hidden_act!r}"
    if getattr(cfg, "pretraining_tp", 1) != 1:
        return "pretraining_tp > 1"
    if not hasattr(base, "model") or not hasattr(base.model, "rotary_emb"):
        return "no rotary embedding module"
    for name, module in model.named_modules():
        if not _is_lora(module):
            continue
        if name.rsplit(".", 1)[-1] not in _LINEARS:
            return f"a LoRA adapter on {name.rsplit('.', 1)[-1]} (only attention and MLP layers are handled)"
        if getattr(module, "merged", False) or any(module.use_dora.get(a, False) for a in module.lora_A):
            return "merged or DoRA adapter layers"
    return None


MIN_REUSE = 16  # shorter common prefixes are not worth keeping track of


@dataclass
class _Saved:
    """The KV cache of the last unpadded single-prompt run under one adapter setting."""

    ids: list[int]  # tokens whose keys and values are in the cache, in order
    k: list[torch.Tensor]
    v: list[torch.Tensor]


@dataclass
class _Group:
    """Linear layers that read the same input (q/k/v, gate/up, o, down). The LoRA adapters of
    all of them are folded into one A (R, in) and one block-diagonal B (sum of outs, R), so the
    adapters cost two small matrix products per group instead of two per layer and adapter."""

    w_t: list[torch.Tensor]  # base weights, transposed views (in, out)
    sizes: list[int]
    a: torch.Tensor | None = None
    b: torch.Tensor | None = None


@dataclass
class _Layer:
    ln1: torch.Tensor
    ln2: torch.Tensor
    qkv: _Group
    o: _Group
    gate_up: _Group
    down: _Group


class LeanLlama:
    """Runner (see `decode.Runner`) for a `LlamaForCausalLM`, or a PEFT model wrapping one."""

    def __init__(self, model: Any, *, reuse_prefix: bool = True):
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"LeanLlama cannot run this model: {reason}")
        self.model = model
        self.base = _base(model)
        cfg = self.base.config
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.scale = self.head_dim ** -0.5
        self.reuse_prefix = reuse_prefix
        self.saved: dict[tuple[str, ...], _Saved] = {}
        self.reused_tokens = 0  # prompt tokens not recomputed thanks to prefix reuse (for tests/benchmarks)
        self._track: _Saved | None = None
        self.proposed = self.accepted = 0  # speculative draft tokens tried / kept (decode.generate)

    def _group(self, modules: list[Any]) -> _Group:
        weights, pieces = [], []  # pieces: (index in group, A, B * scaling)
        for i, m in enumerate(modules):
            if not _is_lora(m):
                weights.append(m.weight)
                continue
            weights.append(m.base_layer.weight)
            if not m.disable_adapters:
                pieces += [(i, m.lora_A[a].weight, m.lora_B[a].weight * m.scaling[a])
                           for a in m.active_adapters if a in m.lora_A]
        group = _Group([w.t() for w in weights], [w.shape[0] for w in weights])
        if pieces:
            dtype = weights[0].dtype  # PEFT keeps adapters in float32 under a bf16 base
            group.a = torch.cat([a for _, a, _ in pieces]).to(dtype)
            group.b = weights[0].new_zeros(sum(group.sizes), group.a.shape[0])
            starts = [sum(group.sizes[:i]) for i in range(len(modules))]
            col = 0
            for i, _, b in pieces:
                group.b[starts[i]: starts[i] + b.shape[0], col: col + b.shape[1]] = b
                col += b.shape[1]
        return group

    def _load(self) -> tuple[str, ...]:
        """Bind the current weights, including whichever adapters are active right now; return
        the active adapter names (the key of the prefix cache)."""
        self.layers = []
        active: set[str] = set()
        for layer in self.base.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            mods = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj,
                    mlp.down_proj]
            self.layers.append(_Layer(
                layer.input_layernorm.weight, layer.post_attention_layernorm.weight,
                qkv=self._group(mods[:3]), o=self._group(mods[3:4]), gate_up=self._group(mods[4:6]),
                down=self._group(mods[6:])))
            active.update(a for m in mods if _is_lora(m) and not m.disable_adapters
                          for a in m.active_adapters)
        self.embed = self.base.model.embed_tokens.weight
        self.norm = self.base.model.norm.weight
        self.head = self.base.lm_head.weight
        self.dtype = self.embed.dtype
        return tuple(sorted(active))

    def _norm(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return F.rms_norm(x, (x.shape[-1],), w, self.eps)
        return w * F.rms_norm(x.float(), (x.shape[-1],), None, self.eps).to(x.dtype)

    @staticmethod
    def _project(x: torch.Tensor, g: _Group) -> list[torch.Tensor]:
        """x (N, in) -> the output of each linear of the group."""
        if g.a is None:
            return [torch.mm(x, w) for w in g.w_t]
        delta = F.linear(F.linear(x, g.a), g.b)
        out, start = [], 0
        for w, n in zip(g.w_t, g.sizes):
            out.append(torch.addmm(delta[:, start: start + n], x, w))
            start += n
        return out

    @staticmethod
    def _add(h: torch.Tensor, x: torch.Tensor, g: _Group) -> torch.Tensor:
        """h + linear(x) for a one-linear group (the residual add folded into the product)."""
        h = torch.addmm(h, x, g.w_t[0])
        return h if g.a is None else torch.addmm(h, F.linear(x, g.a), g.b.t())

    @staticmethod
    def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor | None, max_len: int) -> torch.Tensor:
        key = self._load()
        rows, width = ids.shape
        self._track = None
        if mask is None and rows == 1 and self.reuse_prefix:
            return self._prefill_reusing(key, ids, max_len)
        self._new_cache(rows, max_len, ids.device)
        if mask is None:
            self.key_mask = None
            pos = torch.arange(width, device=ids.device).expand(rows, width)
            attn = None
        else:
            self.key_mask = torch.zeros((rows, max_len), dtype=torch.bool, device=ids.device)
            self.key_mask[:, :width] = mask
            pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
            causal = torch.ones(width, width, dtype=torch.bool, device=ids.device).tril()
            # A padding query attends to itself only, so no softmax row is empty (NaN-free).
            attn = (causal & mask[:, None, None, :]) | torch.eye(width, dtype=torch.bool, device=ids.device)
        self.next_pos = pos[:, -1] + 1
        return self._forward(ids, pos, attn, causal=mask is None)

    def _new_cache(self, rows: int, max_len: int, device: Any) -> None:
        shape = (rows, self.kv_heads, max_len, self.head_dim)
        self.k_cache = [torch.zeros(shape, dtype=self.dtype, device=device) for _ in self.layers]
        self.v_cache = [torch.zeros(shape, dtype=self.dtype, device=device) for _ in self.layers]
        self.length = 0

    def _prefill_reusing(self, key: tuple[str, ...], ids: torch.Tensor, max_len: int) -> torch.Tensor:
        """Prefill one unpadded prompt, starting after the prefix this adapter setting already holds."""
        new = ids[0].tolist()
        saved = self.saved.get(key)
        reuse = 0
        if saved is not None:
            for a, b in zip(saved.ids, new[:-1]):  # keep at least one token to run
                if a != b:
                    break
                reuse += 1
        if reuse < MIN_REUSE:
            self._new_cache(1, max_len, ids.device)
            reuse = 0
        else:
            self.k_cache, self.v_cache, self.length = saved.k, saved.v, reuse
            if saved.k[0].shape[2] < max_len:  # grow, keeping the reused prefix
                old_k, old_v = self.k_cache, self.v_cache
                self._new_cache(1, max_len, ids.device)
                for i in range(len(self.layers)):
                    self.k_cache[i][:, :, :reuse] = old_k[i][:, :, :reuse]
                    self.v_cache[i][:, :, :reuse] = old_v[i][:, :, :reuse]
                self.length = reuse
        self.reused_tokens += reuse
        self.key_mask = None
        self._track = self.saved[key] = _Saved(list(new), self.k_cache, self.v_cache)
        width = len(new)
        pos = torch.arange(reuse, width, device=ids.device)[None]
        # Queries reuse..width-1 see every cached key up to their own position.
        attn = torch.arange(width, device=ids.device)[None, :] <= pos[0][:, None] if reuse else None
        self.next_pos = pos[:, -1] + 1
        return self._forward(ids[:, reuse:], pos, attn, causal=not reuse)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        if self._track is not None:
            self._track.ids.append(int(tokens[0]))
        pos = self.next_pos[:, None]
        self.next_pos = self.next_pos + 1
        attn = None
        if self.key_mask is not None:
            self.key_mask[:, self.length] = True
            attn = self.key_mask[:, None, None, : self.length + 1]
        return self._forward(tokens[:, None], pos, attn, causal=False)

    def extend(self, tokens: list[int]) -> torch.Tensor:
        """Append several tokens to an unpadded single row in one forward; return the logits
        after each of them (n, V). With `rollback` this verifies draft tokens (speculative
        decoding): on a CPU one forward over a few tokens costs about as much as one token."""
        if self.key_mask is not None or self.k_cache[0].shape[0] != 1:
            raise ValueError("extend needs a single unpadded row")
        if self.length + len(tokens) > self.k_cache[0].shape[2]:
            raise ValueError(f"extend by {len(tokens)} tokens overflows the cache "
                             f"({self.length} of {self.k_cache[0].shape[2]} positions used)")
        if self._track is not None:
            self._track.ids.extend(tokens)
        device = self.k_cache[0].device
        pos = torch.arange(self.length, self.length + len(tokens), device=device)[None]
        self.next_pos = pos[:, -1] + 1
        attn = torch.arange(self.length + len(tokens), device=device)[None, :] <= pos[0][:, None]
        ids = torch.tensor([tokens], dtype=torch.long, device=device)
        return self._forward(ids, pos, attn, causal=False, every=True)

    def rollback(self, n: int) -> None:
        """Forget the last `n` tokens of an unpadded single row (rejected drafts): their cache
        entries are simply overwritten by the next forward."""
        if n <= 0:
            return
        if n > self.length:
            raise ValueError(f"cannot roll back {n} of {self.length} cached tokens")
        self.length -= n
        self.next_pos = self.next_pos - n
        if self._track is not None:
            del self._track.ids[-n:]

    def _forward(self, ids: torch.Tensor, pos: torch.Tensor, attn: torch.Tensor | None,
                 causal: bool, every: bool = False) -> torch.Tensor:
        rows, width = ids.shape
        start, end = self.length, self.length + width
        h = F.embedding(ids, self.embed).view(rows * width, -1)
        cos, sin = self.base.model.rotary_emb(h, pos)
        cos, sin = cos[:, None], sin[:, None]
        for i, layer in enumerate(self.layers):
            q, k, v = self._project(self._norm(h, layer.ln1), layer.qkv)
            q = q.view(rows, width, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(rows, width, self.kv_heads, self.head_dim).transpose(1, 2)
            self.k_cache[i][:, :, start:end] = self._rope(k, cos, sin)
            self.v_cache[i][:, :, start:end] = v.view(rows, width, self.kv_heads, self.head_dim).transpose(1, 2)
            a = F.scaled_dot_product_attention(
                self._rope(q, cos, sin), self.k_cache[i][:, :, :end], self.v_cache[i][:, :, :end],
                attn_mask=attn, is_causal=causal and width > 1, scale=self.scale, enable_gqa=True)
            h = self._add(h, a.transpose(1, 2).reshape(rows * width, -1), layer.o)
            gate, up = self._project(self._norm(h, layer.ln2), layer.gate_up)
            h = self._add(h, F.silu(gate) * up, layer.down)
        self.length = end
        last = h if every else h.view(rows, width, -1)[:, -1]
        return F.linear(self._norm(last, self.norm), self.head).float()
