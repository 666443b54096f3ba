"""Attention for padding-free packed rows that spends no compute across rows.

A packed training row holds several sequences back to back, with `position_ids` restarting at 0 for
each.  Stock SDPA attends through a block-diagonal mask built from those positions: correct, but
the kernel still computes every (query, key) pair of the whole pack, and with an explicit mask it
cannot use the causal fast path.  On a CPU, at the embedded model's width, that attention costs
about as much as all the linear layers together.

`packed_sdpa` splits the pack at its position resets and runs causal SDPA on each sequence
(`is_causal=True`, the flash kernel's causal path), so a pack of rows of lengths n_i costs
sum(n_i^2)/2 instead of (sum n_i)^2.  The result is the same attention (tests compare it with the
masked path, values and gradients); `benchmarks/bench_attention.py` measures the gain.

It is registered with transformers' `AttentionInterface` and selected per model by the training
recipe (`attention: packed_sdpa`, the default), only for the duration of training: saved models keep
the standard `sdpa` setting.  It takes no padding mask, so it accepts exactly the input the recipe's
collator makes (one flattened row, `position_ids`, no KV cache) and refuses anything else.
"""

from __future__ import annotations

from typing import Any

from multiagentllm.train.config import ConfigError

NAME = "packed_sdpa"


class PackedAttentionError(ValueError):
    pass


def segment_lengths(position_ids: Any) -> list[int]:
    """Lengths of the sequences in one packed row: a new one starts wherever the position does
    not continue the previous one (a reset to 0, or any jump)."""
    import torch

    pos = position_ids.reshape(-1)
    starts = (torch.diff(pos) != 1).nonzero().reshape(-1) + 1
    bounds = [0, *starts.tolist(), pos.numel()]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def packed_sdpa_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                          dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers attention-function signature: q (1, H, T, D), k/v (1, H_kv, T, D) ->
    output (1, T, H, D)."""
    import torch
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import repeat_kv

    position_ids = kwargs.get("position_ids")
    if attention_mask is not None or position_ids is None or query.shape[0] != 1 \
            or query.shape[2] != key.shape[2]:
        raise PackedAttentionError(
            "packed_sdpa attention takes one padding-free packed row with position_ids and no KV "
            f"cache or padding mask (got batch {query.shape[0]}, {query.shape[2]} queries over "
            f"{key.shape[2]} keys, mask {'given' if attention_mask is not None else 'none'}, "
            f"position_ids {'given' if position_ids is not None else 'none'}); use attention=sdpa")
    groups = query.shape[1] // key.shape[1]
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    p = dropout if module.training else 0.0
    outputs, start = [], 0
    for n in segment_lengths(position_ids):
        end = start + n
        outputs.append(F.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end],
            dropout_p=p, is_causal=n > 1, scale=scaling))
        start = end
    out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make `packed_sdpa` available to every transformers model; returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_sdpa_attention)
    return NAME


def set_attention(model: Any, name: str) -> None:
    """Select an attention implementation on `model` (a PEFT wrapper or a plain model); a name
    transformers cannot use (unknown, or its package missing) is a ConfigError on the key."""
    if name == NAME:
        register()
    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        target.set_attn_implementation(name)
    except (ValueError, ImportError) as e:
        raise ConfigError(f"attention {name!r} cannot be used: {e} ({NAME}, the default, needs "
                          "nothing more)") from None
