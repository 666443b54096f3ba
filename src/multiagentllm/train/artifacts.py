"""What a finished stage leaves for people and tools: its entry in the manifest, model card, loss curve.

`CKPT/manifest.json` is the one file the runtime reads to find the base model and each role's
weights; its shape is `multiagentllm.checkpoint.Manifest`. It is rewritten atomically after each
stage, so a chain killed between stages leaves a valid manifest naming only the stages that
finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multiagentllm.checkpoint import MANIFEST, CheckpointError, Manifest, find_manifest, record_stage
from multiagentllm.models.embedded import EMBEDDED_HUB_ID, EMBEDDED_NAME
from multiagentllm.paths import portable
from multiagentllm.train.config import ConfigError, TrainConfig


def check_manifest(out: Path, cfg: TrainConfig, prompt_version: str) -> None:
    """Refuse to add a stage trained on another base, format or prompt version to a checkpoint
    (or to a checkpoint whose manifest does not read)."""
    try:
        manifest = find_manifest(out)
    except CheckpointError as e:
        raise ConfigError(f"{e}; fix or remove it") from None
    if manifest is None:
        return
    for key, mine in (("base", cfg.base), ("format", cfg.format), ("prompt_version", prompt_version)):
        theirs = getattr(manifest, key)
        if theirs is not None and theirs != mine:
            raise ConfigError(f"{out / MANIFEST} has {key}={theirs!r} but this stage uses {mine!r}; "
                              "a checkpoint holds one base, format and prompt version: use another out=")


def update_manifest(out: Path, cfg: TrainConfig, prompt_version: str) -> Manifest:
    """Add this stage to `out/manifest.json`, keeping every stage other processes have added."""
    return record_stage(out, format=cfg.format, base=cfg.base, prompt_version=prompt_version,
                        folder=cfg.folder, role=cfg.role, on=cfg.init)


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


def base_name(base: str) -> str:
    """The base model as written into a published stage: the hub id of the embedded default, a
    local folder relative to the checkout, a hub id as given; never this machine's cache path."""
    if base == EMBEDDED_NAME:
        return EMBEDDED_HUB_ID
    return portable(base) if Path(base).expanduser().exists() else base


def portable_adapter_config(folder: Path, base: str) -> None:
    """PEFT records the folder the base was loaded from (here, this machine's model cache) as
    `base_model_name_or_path`; a published adapter names the base instead (`base_name`)."""
    path = Path(folder) / "adapter_config.json"
    if path.exists():
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_name(base)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_card(path: Path, cfg: TrainConfig, metrics: dict[str, Any], prompt_version: str) -> None:
    """A Hugging Face style model card: what this is, how it was trained, how to load it."""
    role = cfg.role or "stage-1 backbone (all roles, whole trajectories)"
    on = "the base model" if cfg.init == "base" else "the base merged with the stage-1 backbone"
    kind = "LoRA adapter (PEFT)" if cfg.format == "lora" else "full model"
    lines = [
        "---",
        f"base_model: {base_name(cfg.base)}",
        f"library_name: {'peft' if cfg.format == 'lora' else 'transformers'}",
        "tags: [alpha-umi, glpft, tool-use, multiagentllm]",
        "---",
        f"# {cfg.folder}: alpha-UMi {role}",
        "",
        f"A {kind} trained by `multiagentllm` (GLPFT) on the `{cfg.dataset}` dataset, starting from "
        f"{on} (`{base_name(cfg.base)}`).",
        "",
        f"- prompt format: `{prompt_version}` (prompts must be rendered by `multiagentllm.roles`)",
        f"- data: `{portable(cfg.data)}` ({metrics['data']['train']['rows']} train rows, "
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
