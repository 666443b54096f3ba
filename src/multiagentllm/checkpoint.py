"""What a trained checkpoint is: its folders, its manifest (read and written as one type), and the
backbone its role adapters sit on.

    CKPT/manifest.json   {"format": "lora"|"full", "base": "embedded"|DIR|HUB_ID,
                          "prompt_version": ..., "stage1": "stage1_backbone",
                          "roles": {"planner": {"path": "planner", "on": "stage1"}, ...}}
    CKPT/stage1_backbone/  CKPT/planner/  CKPT/caller/  CKPT/summarizer/  CKPT/single/

A checkpoint may start from another one's stage-1 backbone (`adopt_stage1`): the folder is copied
in, so the checkpoint stays self-contained, and `"stage1_from"` in the manifest names where it
came from.

Training writes the manifest after each stage (`record_stage`), the runtime and the exports read
it (`read_manifest`); both go through `Manifest`, so the file has one shape. A role is trained on
"base" (the base model) or on "stage1": the base merged with the stage-1 adapter, the *backbone*
that training, the runtime and the exports all build with `load_backbone`.

The role and stage-1 adapters are PEFT folders (`adapter_config.json` and the weights); what the
exports need of them, and the checks both exports make before they load anything, are here too.

This module reads no training or model code: `train/`, `models/` and the exports import it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.io import folder_lock, write_json
from multiagentllm.paths import portable
from multiagentllm.roles.registry import TRIO

MANIFEST = "manifest.json"
STAGE1 = "stage1_backbone"  # the stage-1 folder when a manifest names none
FORMATS = ("lora", "full")
ON = ("base", "stage1")  # what a role's weights were trained on
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the folder and what to do."""


class ExportError(RuntimeError):
    """An export (`umi export vllm | gguf`) that cannot be done; the message names the path and
    what to do."""


@dataclass
class RoleEntry:
    path: Path  # the role's folder (root / the manifest's relative path)
    on: str  # "base" or "stage1"


@dataclass
class Manifest:
    root: Path
    format: str
    base: str
    prompt_version: str | None
    stage1: Path | None
    roles: dict[str, RoleEntry]
    extra: dict[str, Any] = field(default_factory=dict)  # keys this code does not know, kept as found

    def stage1_for(self, on: str) -> Path | None:
        """The stage-1 folder a role trained on `on` needs merged into the base; None for "base"."""
        if on == "base":
            return None
        if self.stage1 is None:
            raise CheckpointError(f"{self.root}: roles are trained on 'stage1' but the manifest "
                                  "names no stage1 backbone")
        return self.stage1

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `manifest.json`, paths relative to the checkpoint, keys in the
        order the file has always had."""
        data: dict[str, Any] = {"format": self.format, "base": self.base}
        if self.prompt_version is not None:
            data["prompt_version"] = self.prompt_version
        if self.stage1 is not None:
            data["stage1"] = self._relative(self.stage1)
        data["roles"] = {name: {"path": self._relative(e.path), "on": e.on}
                         for name, e in self.roles.items()}
        data.update({k: v for k, v in self.extra.items() if k not in data})
        return data

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:  # an absolute path written by hand
            return str(path)


def read_manifest(checkpoint: str | os.PathLike) -> Manifest:
    """`checkpoint/manifest.json`, checked; a CheckpointError names what is wrong."""
    root = Path(checkpoint).expanduser()
    path = root / MANIFEST
    if not root.is_dir():
        raise CheckpointError(f"checkpoint {root} is not a directory")
    if not path.exists():
        raise CheckpointError(f"{root} has no {MANIFEST}; is it a checkpoint written by `umi train`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    fmt = data.get("format")
    if fmt not in FORMATS:
        raise CheckpointError(f"{path}: 'format' is {fmt!r}, expected 'lora' or 'full'")
    if not isinstance(data.get("base"), str) or not data["base"]:
        raise CheckpointError(f"{path}: missing 'base' (\"embedded\", a model folder or a hub id)")
    roles = {}
    for name, entry in (data.get("roles") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise CheckpointError(f"{path}: roles.{name} must be an object with a 'path'")
        on = entry.get("on", "base")
        if on not in ON:
            raise CheckpointError(f"{path}: roles.{name}.on is {on!r}, expected 'base' or 'stage1'")
        roles[name] = RoleEntry(root / entry["path"], on)
    stage1 = root / data["stage1"] if data.get("stage1") else None
    known = ("format", "base", "prompt_version", "stage1", "roles")
    return Manifest(root, fmt, data["base"], data.get("prompt_version"), stage1, roles,
                    {k: v for k, v in data.items() if k not in known})


def find_manifest(checkpoint: str | os.PathLike) -> Manifest | None:
    """The manifest of a checkpoint being trained: None before its first stage is published."""
    return read_manifest(checkpoint) if (Path(checkpoint).expanduser() / MANIFEST).exists() else None


def write_manifest(manifest: Manifest) -> None:
    """Atomically (re)write `root/manifest.json`, readable by everyone like the stage folders."""
    path = manifest.root / MANIFEST
    write_json(path, manifest.to_dict())
    path.chmod(0o644)


def stage1_folder(checkpoint: str | os.PathLike) -> Path:
    """Where the stage-1 backbone of a checkpoint is (or will be)."""
    manifest = find_manifest(checkpoint)
    return manifest.stage1 if manifest and manifest.stage1 else Path(checkpoint) / STAGE1


def stage_done(folder: str | os.PathLike) -> bool:
    """Whether a stage folder holds a finished stage (training writes metrics.json last)."""
    return (Path(folder) / "metrics.json").exists()


def adopt_stage1(checkpoint: str | os.PathLike, backbone: str | os.PathLike, *, format: str, base: str,
                 prompt_version: str) -> Manifest:
    """Give `checkpoint` the finished stage-1 backbone of the checkpoint `backbone`: its folder is
    copied in (the result needs nothing outside itself) and the manifest records `stage1_from`.
    Nothing is copied when it came from there before; a stage-1 backbone of another origin, or a
    backbone trained on another base, format or prompt version, is a CheckpointError."""
    source = Path(backbone).expanduser()
    theirs = _backbone_manifest(source)
    root, origin = Path(checkpoint), portable(source)
    with folder_lock(root):
        manifest = find_manifest(root) or Manifest(root, format, base, prompt_version, None, {})
        for key, mine in (("base", base), ("format", format), ("prompt_version", prompt_version)):
            for where, found in ((f"backbone {source}", theirs), (str(root), manifest)):
                if getattr(found, key) not in (None, mine):  # None: a manifest older than prompt versions
                    raise CheckpointError(f"{where} has {key}={getattr(found, key)!r} but these stages "
                                          f"use {mine!r}; a checkpoint holds one base, format and prompt version")
        if manifest.stage1 is not None and stage_done(manifest.stage1):
            if manifest.extra.get("stage1_from") != origin:
                found = manifest.extra.get("stage1_from") or "trained here"
                raise CheckpointError(f"{root} already has a stage-1 backbone ({found}), not the one of "
                                      f"{origin}; use another output folder or remove {manifest.stage1}")
            return manifest
        target = root / STAGE1
        partial = root / f".{STAGE1}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(theirs.stage1, partial)
        shutil.rmtree(target, ignore_errors=True)  # an unfinished stage 1 left by a killed run
        os.replace(partial, target)
        manifest.stage1 = target
        manifest.extra["stage1_from"] = origin
        write_manifest(manifest)
        return manifest


def _backbone_manifest(source: Path) -> Manifest:
    """The manifest of a checkpoint whose stage-1 backbone is finished; else a CheckpointError
    naming the path."""
    try:
        manifest = read_manifest(source)
    except CheckpointError as e:
        raise CheckpointError(f"backbone {source}: {e}") from None
    if manifest.stage1 is None or not stage_done(manifest.stage1):
        where = manifest.stage1 or source / STAGE1
        raise CheckpointError(f"backbone {source} has no finished stage-1 backbone ({where} holds no "
                              f"metrics.json); train it with `umi train glpft --stage stage1_backbone "
                              f"--out {source}`")
    return manifest


def record_stage(checkpoint: str | os.PathLike, *, format: str, base: str, prompt_version: str,
                 folder: str, role: str = "", on: str = "base") -> Manifest:
    """Add a published stage to the manifest: the stage-1 backbone (`role` empty) or a role's
    weights trained `on` base or stage1. Locked, so stages published side by side by other
    processes are all kept; a chain killed between stages leaves a valid manifest naming only
    the stages that finished."""
    root = Path(checkpoint)
    with folder_lock(root):
        manifest = find_manifest(root) or Manifest(root, format, base, prompt_version, None, {})
        manifest.format, manifest.base, manifest.prompt_version = format, base, prompt_version
        if role:
            manifest.roles[role] = RoleEntry(root / folder, on)
        else:
            manifest.stage1 = root / folder
        write_manifest(manifest)
        return manifest


def load_backbone(base_path: str | os.PathLike, stage1: str | os.PathLike | None = None, *,
                  full: bool = False, dtype: Any = None, device: Any = None) -> Any:
    """The weights a role is trained and run on: the base model, or with `stage1` the base merged
    with the stage-1 LoRA adapter (with `full`, `stage1` is a whole model and is loaded as it is).

    Loaded in `dtype` (float32 when None), moved to `device`, and merged there; in eval mode.
    Training (`train.recipe.build_model`), the torch runtime (`models.backends.checkpoint`) and
    the exports (`export`, `models.gguf`) all build it here, so they agree on the weights."""
    import torch  # torch, transformers and peft load only when weights are built
    from transformers import AutoModelForCausalLM

    source = stage1 if full and stage1 is not None else base_path
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32 if dtype is None else dtype)
    if device is not None:
        model = model.to(device)
    if stage1 is not None and not full:
        model = merge_adapter(model, stage1)
    return model.eval()


def merge_adapter(model: Any, adapter: str | os.PathLike) -> Any:
    """`model` with the LoRA adapter folder `adapter` merged into its weights."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


# -- adapter folders, as the exports read them ----------------------------------------------------

def adapter_weights(folder: Path, what: str) -> Path:
    """The weights file of the adapter folder `folder` (`what` names it in the error)."""
    require_file(folder / ADAPTER_CONFIG, what)
    found = [folder / name for name in ADAPTER_WEIGHTS if (folder / name).exists()]
    if not found:
        tried = " nor ".join(str(folder / name) for name in ADAPTER_WEIGHTS)
        raise ExportError(f"{what} has no weights: neither {tried} exists (did that stage finish?)")
    return found[0]


def require_file(path: Path, what: str) -> Path:
    """`path`, or an ExportError saying that `what` is missing."""
    if not path.exists():
        raise ExportError(f"{what} is missing: {path} not found (did that stage finish?)")
    return path


def read_adapter_config(path: Path) -> dict[str, Any]:
    """An adapter's `adapter_config.json`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ExportError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


def unservable(config: dict[str, Any]) -> list[str]:
    """What an adapter holds that a serving engine cannot apply as a run-time LoRA (vLLM's
    multi-LoRA and llama.cpp alike): DoRA, trained biases, modules saved whole."""
    return [name for name, bad in (("use_dora", config.get("use_dora")),
                                   ("bias", config.get("bias", "none") != "none"),
                                   ("modules_to_save", config.get("modules_to_save"))) if bad]


# -- what both exports check before anything is loaded --------------------------------------------

def start_export(checkpoint: str | os.PathLike, out: str | os.PathLike, *, dtype: str,
                 dtypes: tuple[str, ...], force: bool) -> tuple[Manifest, Path]:
    """The checkpoint's manifest and `out` resolved, after the checks every export starts with: a
    dtype of `dtypes`, and an `out` apart from the checkpoint, a folder, empty unless `force`."""
    if dtype not in dtypes:
        raise ExportError(f"dtype {dtype!r}: expected one of {', '.join(dtypes)}")
    manifest = read_manifest(checkpoint)
    out, root = Path(out).expanduser().resolve(), manifest.root.resolve()
    if out == root or out in root.parents or root in out.parents:
        raise ExportError(f"--out {out} overlaps the checkpoint {root}; export somewhere else")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"--out {out} is not empty; pass --force to replace it (the old one is "
                          "removed only after the new export succeeds)")
    return manifest, out


def export_roles(manifest: Manifest) -> list[str]:
    """The roles an export writes: the trio (an ExportError unless all three are trained) and the
    single-LLM baseline where it is trained."""
    missing = [r for r in TRIO if r not in manifest.roles]
    if missing:
        raise ExportError(f"{manifest.root / MANIFEST} names no {', '.join(missing)} "
                          f"(trained: {', '.join(sorted(manifest.roles)) or 'none'}); finish the "
                          "training chain first")
    return [*TRIO, *(["single"] if "single" in manifest.roles else [])]


def check_stage1_adapter(manifest: Manifest, roles: list[str]) -> None:
    """The stage-1 adapter is there when one of `roles` was trained on it."""
    if any(manifest.roles[r].on == "stage1" for r in roles):
        if manifest.stage1 is None:
            raise ExportError(f"{manifest.root / MANIFEST}: roles are trained on 'stage1' "
                              "but it names no stage1 backbone")
        adapter_weights(manifest.stage1, "the stage-1 adapter")


def check_one_backbone(manifest: Manifest) -> None:
    """The trio was trained on the same weights, so one backbone can serve its three adapters."""
    if len({manifest.roles[r].on for r in TRIO}) > 1:
        raise ExportError(f"{manifest.root}: the roles were trained on different weights "
                          f"({', '.join(f'{r}: {manifest.roles[r].on}' for r in TRIO)}), so they "
                          "cannot share one backbone; pass --merge-roles")
