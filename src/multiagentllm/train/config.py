"""Training configuration: one flat dataclass, loaded from YAML and `key=value` overrides.

A config file is either one stage (flat keys) or a *preset*: `common:` keys plus a `stages:` map of
per-stage keys, in chain order.  The GLPFT stages differ only by these keys (dataset, what they
start from, budget), never by code.  Unknown keys stop with a message that names the key and the
closest known ones, so a typo never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from multiagentllm.roles.registry import DATASETS

PRESETS = ("cpu-ab", "cpu-demo", "cpu-full", "tinyllama")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key or file."""


class TrainingError(RuntimeError):
    """A run that stopped on a problem it names (non-finite loss, unfinished checkpoints...)."""


@dataclass
class TrainConfig:
    """Everything one training stage needs; the resolved copy is saved next to its weights."""

    stage: str = "stage1_backbone"  # the stage's name (work folder, logs)
    folder: str = ""  # its output folder under `out` (default: the stage name)
    role: str = ""  # manifest role this stage provides ("" for the stage-1 backbone)
    dataset: str = "global"  # which DATA/<dataset>/ folder to read
    data: str = ""  # the built data directory (`umi data build --out DATA`)
    out: str = ""  # the checkpoint directory (CKPT)
    base: str = "embedded"  # "embedded", a local HF model directory, or a hub id
    init: str = "base"  # start from "base" weights or from the merged "stage1" backbone
    # init=stage1 without training stage 1 here: a checkpoint folder whose finished stage-1
    # backbone is copied into `out` first (checkpoint.adopt_stage1)
    backbone: str = ""
    format: str = "lora"  # "lora" adapters or "full" fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str | list[str] = "all-linear"
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"  # any transformers scheduler name: cosine, linear, constant...
    warmup: float = 0.03  # a fraction of the steps when < 1, else a step count
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    max_steps: int = -1  # wins over token_budget and epochs when > 0
    token_budget: int = 0  # total tokens to train on (sets max_steps) when > 0
    pack_tokens: int = 2048  # rows are packed, padding-free, into sequences of at most this many
    packs_per_step: int = 1  # packs per device per forward pass (flattened into one row)
    grad_accum: int = 1
    max_length: int = 2048  # longer rows are cut (spans past the cut are lost; counted)
    train_split: str = "train"
    dev_split: str = "dev"
    max_train_rows: int = 0  # 0 = all rows
    max_dev_rows: int = 0
    bf16: str = "auto"  # bf16 autocast (master weights fp32): true, false, or auto = where it is faster
    save_dtype: str = "bfloat16"
    gradient_checkpointing: bool = False
    # packed_sdpa: causal SDPA per packed row, no compute across rows (train/attention.py); or any
    # transformers implementation: sdpa (block-diagonal mask over the pack), eager, flash_attention_2
    attention: str = "packed_sdpa"
    # torch.compile (inductor) around the model for training: 1.25-1.37x the step rate of the
    # embedded model on a bf16 CPU after 3-6 min of compiling, losses closer to fp32 than eager bf16
    # (bench_train_throughput.py --compile; README, Training). Off in the presets, which the shipped
    # chains were trained with; an override (torch_compile=true) for long stages
    torch_compile: bool = False
    device: str = "auto"  # "auto", "cpu" or "cuda"
    seed: int = 42
    logging_steps: int = 5
    save_steps: int = 50  # checkpoint interval, what --resume continues from
    save_total_limit: int = 2
    eval_steps: int = 0  # 0 = evaluate on dev once, at the end
    keep_checkpoints: bool = False  # keep the intermediate checkpoints after a stage finishes
    # LoRA only: every save also writes CKPT/.resume/<stage>/ (bf16 adapter, schedule, RNG; no
    # AdamW state), a few MB to commit so that --resume can continue on another machine
    resume_points: bool = False
    overwrite: bool = False  # replace a finished stage folder (only after the new one succeeds)
    progress: bool = True
    accelerate_config: str = ""  # informational: the accelerate/DeepSpeed/FSDP config used
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes copied to the card

    def validate(self) -> TrainConfig:
        self.folder = self.folder or self.stage
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.dataset in DATASETS, f"dataset {self.dataset!r}: expected one of {DATASETS}")
        need(self.init in ("base", "stage1"), f"init {self.init!r}: expected 'base' or 'stage1'")
        need(self.format in ("lora", "full"), f"format {self.format!r}: expected 'lora' or 'full'")
        need(bool(self.data), "data: the built data directory is required (data=DIR)")
        need(bool(self.out), "out: the checkpoint directory is required (out=DIR)")
        for key in ("stage", "folder"):
            name = getattr(self, key)
            need(bool(name) and "/" not in name and not name.startswith("."),
                 f"{key} {name!r}: a plain folder name is required")
        need(self.max_length <= self.pack_tokens,
             f"max_length ({self.max_length}) must be <= pack_tokens ({self.pack_tokens})")
        for key in ("lora_r", "pack_tokens", "packs_per_step", "grad_accum", "max_length",
                    "logging_steps", "save_steps"):
            need(getattr(self, key) > 0, f"{key} must be > 0 (got {getattr(self, key)})")
        need(self.learning_rate > 0, f"learning_rate must be > 0 (got {self.learning_rate})")
        need(self.save_dtype in ("bfloat16", "float32", "float16"),
             f"save_dtype {self.save_dtype!r}: expected bfloat16, float32 or float16")
        need(self.device in ("auto", "cpu", "cuda"), f"device {self.device!r}: auto, cpu or cuda")
        need(bool(self.attention) and isinstance(self.attention, str),
             f"attention {self.attention!r}: packed_sdpa, sdpa, eager or flash_attention_2")
        need(not (self.resume_points and self.format != "lora"),
             "resume_points: true needs format: lora (a full model is too large to carry around)")
        self.bf16 = str(self.bf16).lower()
        need(self.bf16 in ("auto", "true", "false"), f"bf16 {self.bf16!r}: expected true, false or auto")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def check_keys(keys: list[str] | Any, where: str) -> None:
    for key in keys:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{where}: unknown config key {key!r}{hint}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["lr=1e-4", "stage2_planner.max_steps=5"]` -> {"lr": 1e-4, "stage2_planner.max_steps": 5}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    return raw


def preset_path(name: str) -> Path:
    """The shipped YAML of a preset (cpu-ab, cpu-demo, cpu-full, tinyllama), or a path to one."""
    if name in PRESETS:
        return Path(str(resources.files("multiagentllm.configs").joinpath(f"train/{name}.yaml")))
    if Path(name).exists():
        return Path(name)
    raise ConfigError(f"preset {name!r}: expected one of {PRESETS} or a YAML file")


def stage_names(raw: dict[str, Any]) -> list[str]:
    return list((raw.get("stages") or {}).keys())


def build(raw: dict[str, Any], overrides: dict[str, Any], *, stage: str | None = None,
          where: str = "config") -> TrainConfig:
    """Merge a (preset or flat) mapping, one stage of it, and overrides into a TrainConfig.

    Overrides `key=v` apply to every stage; `STAGE.key=v` only to that stage.
    """
    overrides = dict(overrides)
    stage = overrides.pop("stage", None) or stage
    if "stages" in raw:
        extra = set(raw) - {"common", "stages"}
        if extra:
            raise ConfigError(f"{where}: a preset has only 'common' and 'stages' (found {sorted(extra)})")
        names = stage_names(raw)
        if stage is None:
            raise ConfigError(f"{where} is a preset; pick a stage with stage=NAME ({', '.join(names)})")
        if stage not in names:
            raise ConfigError(f"{where}: no stage {stage!r}; stages are {', '.join(names)}")
        common = raw.get("common") or {}
        check_keys(common, f"{where} (common)")
        merged = {**common, **(raw["stages"][stage] or {}), "stage": stage}
        check_keys(merged, f"{where} (stages.{stage})")
    else:
        merged = dict(raw)
        check_keys(merged, where)
        if stage is not None:
            merged["stage"] = stage
    scoped = {}
    for key, value in overrides.items():
        name, dot, sub = key.partition(".")
        if dot:
            if name == merged.get("stage"):
                scoped[sub] = value
            continue
        scoped.setdefault(key, value)
    check_keys([k.partition(".")[2] or k for k in overrides], "command line")
    merged.update(scoped)
    return TrainConfig(**_coerce(merged)).validate()


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """YAML gives `1e-4` as a string and `2048` as an int; cast each value to its field's type."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    out = {}
    for key, value in values.items():
        kind = str(types[key])
        try:
            if kind == "int" and not isinstance(value, bool):
                value = int(float(value)) if isinstance(value, str) else int(value)
            elif kind == "float":
                value = float(value)
            elif kind == "bool" and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            elif kind == "str":
                value = "" if value is None else str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key!r}: {value!r} is not a valid {kind}") from None
        out[key] = value
    return out
