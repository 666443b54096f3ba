"""What a finished stage leaves for people and tools: manifest, model card, loss curve.

`CKPT/manifest.json` is the one file the runtime reads to find the base model and each role's
weights (the layout agreed with the runtime: base, format, prompt version, stage1, roles).  It is
rewritten atomically after each stage, so a chain killed between stages leaves a valid manifest
naming only the stages that finished.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.io import write_json
from multiagentllm.train.config import ConfigError, TrainConfig

MANIFEST = "manifest.json"


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON ({e.msg}); fix or remove it") from None


def check_manifest(out: Path, cfg: TrainConfig, prompt_version: str) -> None:
    """Refuse to add a stage trained on another base, format or prompt version to a checkpoint."""
    manifest = read_manifest(out)
    if not manifest:
        return
    for key, mine in (("base", cfg.base), ("format", cfg.format), ("prompt_version", prompt_version)):
        theirs = manifest.get(key)
        if theirs is not None and theirs != mine:
            raise ConfigError(f"{out / MANIFEST} has {key}={theirs!r} but this stage uses {mine!r}; "
                              "a checkpoint holds one base, format and prompt version: use another out=")


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Serialise read-modify-write of a folder's contents between processes: the manifest (stages
    trained side by side with `--stage`, one per terminal), a resume point restored by every rank.
    POSIX `flock` on the folder itself, so no lock file is left behind; elsewhere the atomic writes
    alone still keep the files valid."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def update_manifest(out: Path, cfg: TrainConfig, prompt_version: str) -> dict[str, Any]:
    """Add this stage to `out/manifest.json`, keeping every stage other processes have added."""
    with folder_lock(out):
        return _update_manifest(out, cfg, prompt_version)


def _update_manifest(out: Path, cfg: TrainConfig, prompt_version: str) -> dict[str, Any]:
    manifest = read_manifest(out) or {}
    manifest.update(format=cfg.format, base=cfg.base, prompt_version=prompt_version)
    manifest.setdefault("roles", {})
    if cfg.role:
        manifest["roles"][cfg.role] = {"path": cfg.folder, "on": cfg.init}
    else:
        manifest["stage1"] = cfg.folder
    ordered = {k: manifest[k] for k in ("format", "base", "prompt_version", "stage1", "roles")
               if k in manifest}
    ordered.update({k: v for k, v in manifest.items() if k not in ordered})
    write_json(out / MANIFEST, ordered)
    (out / MANIFEST).chmod(0o644)
    return ordered


def plot_loss(log_history: list[dict[str, Any]], path: Path, *, title: str) -> None:
    """Training (and dev, when evaluated) loss against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in log_history if "loss" in r and "step" in r]
    dev = [(r["step"], r["eval_loss"]) for r in log_history if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train")
    if dev:
        ax.plot(*zip(*dev), marker="o", label="dev")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (targets only)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if train or dev:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _train_loss(metrics: dict[str, Any]) -> str:
    """The card's train-loss phrase; a resumed run's mean covers only the steps it ran."""
    text = f"mean train loss {metrics['train_loss']:.4f}"
    if metrics.get("train_loss_steps"):
        first, last = metrics["train_loss_steps"]
        text += f" over steps {first}-{last}" + (f" (resumed after step {first - 1})" if first > 1 else "")
    elif metrics.get("resumed_from"):  # written before the steps were recorded
        text += f" over the steps run after resuming from {metrics['resumed_from']}"
    if metrics.get("last_logged_loss") is not None:
        text += f", last logged {metrics['last_logged_loss']:.4f}"
    return text


def write_card(path: Path, cfg: TrainConfig, metrics: dict[str, Any], base_path: Path,
               prompt_version: str) -> None:
    """A Hugging Face style model card: what this is, how it was trained, how to load it."""
    role = cfg.role or "stage-1 backbone (all roles, whole trajectories)"
    on = "the base model" if cfg.init == "base" else "the base merged with the stage-1 backbone"
    kind = "LoRA adapter (PEFT)" if cfg.format == "lora" else "full model"
    lines = [
        "---",
        f"base_model: {cfg.base if cfg.base != 'embedded' else 'HuggingFaceTB/SmolLM2-135M-Instruct'}",
        f"library_name: {'peft' if cfg.format == 'lora' else 'transformers'}",
        "tags: [alpha-umi, glpft, tool-use, multiagentllm]",
        "---",
        f"# {cfg.folder}: alpha-UMi {role}",
        "",
        f"A {kind} trained by `multiagentllm` (GLPFT) on the `{cfg.dataset}` dataset, starting from "
        f"{on} (`{cfg.base}`, loaded from `{base_path}`).",
        "",
        f"- prompt format: `{prompt_version}` (prompts must be rendered by `multiagentllm.roles`)",
        f"- data: `{cfg.data}` ({metrics['data']['train']['rows']} train rows, "
        f"{metrics['data']['train']['tokens']} tokens), hash `{metrics['data_hash']}`",
        f"- steps: {metrics['steps']}; {_train_loss(metrics)}"
        + (f"; dev loss {metrics['eval_loss']:.4f}" if "eval_loss" in metrics else ""),
        f"- trainable parameters: {metrics['trainable_parameters']:,}",
        "",
        "![loss](loss.png)",
        "",
        "Reproduce: `umi train --config config.yaml` (the resolved config saved here).",
        "",
        "Load: the runtime reads `../manifest.json`; by hand, "
        + ("`PeftModel.from_pretrained(base, this_folder)` on "
           + ("the base." if cfg.init == "base" else "the base merged with ../stage1_backbone.")
           if cfg.format == "lora" else "`AutoModelForCausalLM.from_pretrained(this_folder)`."),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
