"""The one SFT recipe: every GLPFT stage (and the single-LLM baseline) is this function plus a config.

    from multiagentllm.train import TrainConfig, train_stage
    train_stage(TrainConfig(data="DATA", out="CKPT", dataset="global", max_steps=20))

It stands on the transformers `Trainer` (checkpointing, schedules, gradient accumulation, bf16
autocast, gradient checkpointing, accelerate/DeepSpeed/FSDP launch) with PEFT LoRA, and adds what
GLPFT needs: span-labelled, padding-free packed rows; a stop on a non-finite loss; output written
to a temporary folder and renamed into place only on success, so a failed run never replaces a
finished stage; a resumable work folder (`CKPT/.work/<stage>/checkpoint-*`, each checked before a
resume starts from it: checkpoints.py), and optionally a portable resume point to commit
(`CKPT/.resume/<stage>/`, resume_point.py).

Why not TRL's `SFTTrainer` (read in TRL 1.16, the last version pinned; neither TRL nor `datasets`
is a dependency now). It has padding-free BFD packing and assistant-only loss, but:
  * its loss runs the LM head through a fused kernel that, without Triton on CUDA/XPU
    (`_use_triton`), scores every position of the pack and also computes entropy and top-1 per
    position for its logs; `SpanTrainer` runs the head only where the next token is supervised,
    6-28% of the tokens of the cpu-full stages (`metrics.json`: summarizer 5.9%, stage 1 28.4%),
    and the head is about a fifth of the 135M model's FLOPs;
  * padding-free mode refuses a custom collator and re-packs through `datasets.map`, so our packs
    (seeded best-fit decreasing, the same on every run for an exact resume: data.pack) and the
    collator that `packed_sdpa` expects (collate.py) would be replaced, not reused;
  * the non-finite-loss stop and the LR schedule restored from a resume point without AdamW state
    (trainer.py) would still need a subclass. Multi-span rows would fit (pre-tokenized
    `input_ids` + `assistant_masks`), so what TRL would add is the packing we already have.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiagentllm.checkpoint import CheckpointError, adopt_stage1, load_backbone, stage1_folder, stage_done
from multiagentllm.io import folder_lock
from multiagentllm.models.load import load_tokenizer, resolve_base
from multiagentllm.paths import portable
from multiagentllm.roles.render import PROMPT_VERSION
from multiagentllm.train import checkpoints
from multiagentllm.train.artifacts import (check_manifest, plot_loss, portable_adapter_config, update_manifest,
                                          write_card)
from multiagentllm.train.attention import NAME as ATTENTION_PACKED
from multiagentllm.train.attention import set_attention
from multiagentllm.train.collate import PackedDataset, collate_packs
from multiagentllm.train.config import ConfigError, TrainConfig, TrainingError
from multiagentllm.train.data import SplitStats, file_hash, load_split, pack


@dataclass
class StageResult:
    path: Path
    metrics: dict[str, Any]


def train_stage(cfg: TrainConfig, *, resume: bool = False, callbacks: list[Any] | None = None) -> StageResult:
    """Train one stage and write `CKPT/<stage>/` (weights, config, metrics, card, loss curve)."""
    import torch
    from transformers import set_seed

    from multiagentllm.train import resume_point  # loads torch and transformers (about 4 s)

    cfg.validate()
    out = Path(cfg.out)
    final = out / cfg.folder
    if stage_done(final) and not cfg.overwrite:
        raise ConfigError(f"{final} already holds a finished stage; pass overwrite=true to retrain it "
                          "(the old one is replaced only when the new run succeeds)")
    check_manifest(out, cfg, PROMPT_VERSION)
    _check_data_version(Path(cfg.data), PROMPT_VERSION)
    start_from_backbone(cfg)
    work = out / ".work" / cfg.stage
    if checkpoints.found(work) and not resume:
        raise TrainingError(f"{work} holds checkpoints of an unfinished run; pass --resume to "
                            f"continue from the newest intact one, or delete {work} to start over")
    if cfg.resume_points and not resume and resume_point.folder(out, cfg.stage).is_dir():
        raise TrainingError(f"{resume_point.folder(out, cfg.stage)} holds the resume point of an "
                            "unfinished run; pass --resume to continue from it, or delete it to start over")

    set_seed(cfg.seed)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else (
        "cpu" if cfg.device == "auto" else cfg.device)
    model, tokenizer, _ = build_model(cfg)
    train_rows, train_stats = load_split(tokenizer, cfg.data, cfg.dataset, cfg.train_split,
                                         max_length=cfg.max_length, limit=cfg.max_train_rows)
    dev_rows, dev_stats = load_split(tokenizer, cfg.data, cfg.dataset, cfg.dev_split,
                                     max_length=cfg.max_length, limit=cfg.max_dev_rows, required=False)
    train_set = PackedDataset(train_rows, pack([len(e.input_ids) for e in train_rows],
                                               cfg.pack_tokens, cfg.seed))
    dev_set = PackedDataset(dev_rows, pack([len(e.input_ids) for e in dev_rows], cfg.pack_tokens,
                                           cfg.seed)) if dev_rows else None
    steps = resolve_steps(cfg, train_set)
    callbacks = list(callbacks or [])
    run = (resume_point.fingerprint(cfg, file_hash([train_stats.path]), _world_size())
           if cfg.resume_points else None)
    last = None
    if resume:
        # the ranks of a distributed run choose in turn: the first sets aside and restores, the
        # others then find the same start already in place
        with folder_lock(work):
            last = resume_start(cfg, work, run)
    resumed_from = None if last is None else (
        f"resume point at step {checkpoints.step(last)} ({resume_point.DIR}, AdamW moments restarted)"
        if resume_point.restored(last) else last.name)
    if cfg.resume_points:
        callbacks.append(resume_point.ResumePointWriter(resume_point.folder(out, cfg.stage), run))
    trainer = make_trainer(cfg, model, train_set, dev_set, work, device, steps, callbacks)
    bf16 = trainer.args.bf16
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
    seconds = time.perf_counter() - started
    # the Trainer's training_loss is the mean over the steps this process ran, not the whole run
    loss_log = [[r["step"], r["loss"]] for r in trainer.state.log_history if "loss" in r]
    first = checkpoints.step(last) + 1 if last is not None else 1
    tokens, targets = _count_all_processes(trainer, trainer.tokens, trainer.targets)
    metrics = {"train_loss": result.training_loss, "steps": trainer.state.global_step,
               "train_loss_steps": [first, trainer.state.global_step],
               "last_logged_loss": loss_log[-1][1] if loss_log else None,
               "train_seconds_this_run": round(seconds, 2),
               "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
               "target_tokens_per_second": round(targets / seconds, 1) if seconds else None,
               "resumed_from": resumed_from,
               "device": device, "bf16": bf16, "processes": trainer.accelerator.num_processes,
               "engine": str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1],
               "loss_log": loss_log}
    if dev_set is not None:
        metrics.update(final_eval(trainer))
    metrics.update(data=_data_metrics(train_stats, dev_stats), data_hash=file_hash(
        [train_stats.path, dev_stats.path]), prompt_version=PROMPT_VERSION,
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad))
    if cfg.attention == ATTENTION_PACKED:  # a training-only choice: saved models keep the standard one
        set_attention(model, "sdpa")
    path = _publish(cfg, trainer, tokenizer, metrics, PROMPT_VERSION)
    if cfg.resume_points and trainer.is_world_process_zero():
        resume_point.discard(out, cfg.stage)
    if not cfg.keep_checkpoints and trainer.is_world_process_zero():
        kept = checkpoints.clean(work)
        if kept:
            warnings.warn(f"{work}: left {', '.join(p.name for p in kept)} (found broken and set "
                          "aside by a resume); delete them when nothing in them is needed",
                          checkpoints.BrokenCheckpointWarning, stacklevel=2)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # `.work` goes once no stage has checkpoints left
    return StageResult(path, metrics)


def final_eval(trainer: Any) -> dict[str, Any]:
    """Dev metrics at the last step: the Trainer's own evaluation when its schedule already ran one
    there (an `eval_steps` multiple, or the end of training), else one evaluation now; a full dev
    pass costs minutes on a CPU, so it is never run twice."""
    step = trainer.state.global_step
    for record in reversed(trainer.state.log_history):
        if "eval_loss" in record and record.get("step") == step:
            return {k: v for k, v in record.items() if k.startswith("eval_")}
    return trainer.evaluate()


def make_trainer(cfg: TrainConfig, model: Any, train_set: PackedDataset, dev_set: PackedDataset | None,
                 work: Path, device: str, steps: int, callbacks: list[Any] | None = None,
                 collator: Any = collate_packs) -> Any:
    """The configured SpanTrainer (also used by the throughput benchmark, so it times this recipe)."""
    import torch
    from transformers import TrainingArguments

    from multiagentllm.train.trainer import SpanTrainer  # loads torch and transformers (about 4 s)

    bf16 = use_bf16(cfg.bf16, device)
    _precision_from_config(bf16, cfg.bf16)  # before TrainingArguments reads the launcher's choice
    args = TrainingArguments(
        output_dir=str(work), per_device_train_batch_size=cfg.packs_per_step,
        per_device_eval_batch_size=cfg.packs_per_step, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, num_train_epochs=cfg.epochs,
        max_steps=steps, bf16=bf16, use_cpu=device == "cpu",
        activation_checkpointing=cfg.gradient_checkpointing,
        torch_compile=cfg.torch_compile, torch_compile_backend="inductor" if cfg.torch_compile else None,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        logging_steps=cfg.logging_steps, logging_first_step=True, save_strategy="steps",
        save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if cfg.eval_steps > 0 and dev_set else "no",
        eval_steps=cfg.eval_steps or None, seed=cfg.seed, data_seed=cfg.seed, report_to="none",
        remove_unused_columns=False, disable_tqdm=not cfg.progress, dataloader_num_workers=0,
        # every trainable weight is used in every forward (LoRA or full), so DDP needs no extra
        # pass over the graph to look for unused ones (the Trainer's default without checkpointing)
        ddp_find_unused_parameters=False)
    trainer = SpanTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=dev_set,
                          data_collator=collator, callbacks=callbacks or [])
    _check_engine(trainer)
    return trainer


def _precision_from_config(bf16: bool, setting: str) -> None:
    """The training config decides bf16, not the launcher. `accelerate launch` passes its config's
    `mixed_precision` in the environment, where TrainingArguments (and the DeepSpeed config it
    builds) take it up when `bf16` is off: a `bf16: false` stage launched with a bf16 accelerate
    config would train in bf16 while its metrics said fp32, and DeepSpeed stops on the mismatch."""
    wanted = "bf16" if bf16 else "no"
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION")
    if launcher is not None and launcher != wanted:
        warnings.warn(f"the launcher asks for mixed_precision={launcher}; the training config "
                      f"(bf16: {setting}) gives {wanted}, which is used", stacklevel=3)
        os.environ["ACCELERATE_MIXED_PRECISION"] = wanted


def _check_engine(trainer: Any) -> None:
    """Say so when `accelerate launch` asked for FSDP or DeepSpeed and the run does without: accelerate
    1.15 applies FSDP only on GPU-like devices, so on a CPU the FSDP configs train as plain DDP."""
    for flag, name, on in (("ACCELERATE_USE_FSDP", "FSDP", trainer.is_fsdp_enabled),
                           ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed", trainer.is_deepspeed_enabled)):
        if os.environ.get(flag, "false").lower() == "true" and not on:
            kind = str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1]
            warnings.warn(f"the accelerate config asks for {name}, but accelerate set up {kind} on "
                          f"this device ({trainer.args.device}): this run trains without {name}",
                          stacklevel=3)


def _count_all_processes(trainer: Any, *counts: int) -> list[int]:
    """Sums over the processes of a distributed run (each counts only the packs it trained on)."""
    import torch

    if trainer.accelerator.num_processes == 1:
        return list(counts)
    total = trainer.accelerator.reduce(torch.tensor(counts, device=trainer.accelerator.device), "sum")
    return [int(n) for n in total.tolist()]


def use_bf16(setting: str, device: str) -> bool:
    """Whether to train under bf16 autocast.  On a GPU: where supported.  On a CPU, "auto" asks the
    hardware: bf16 autocast pays only where bf16 matmuls beat fp32 (AMX / fast AVX512-BF16
    kernels); elsewhere it is slower than fp32, so "auto" keeps fp32 there."""
    import torch

    if setting == "false":
        return False
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return setting == "true" or _bf16_matmul_speedup() > 1.2


@functools.cache
def _bf16_matmul_speedup(n: int = 1024, reps: int = 3) -> float:
    import torch

    def best(dtype: torch.dtype) -> float:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.float32) / best(torch.bfloat16)


def start_from_backbone(cfg: TrainConfig) -> None:
    """With `backbone` set, a stage on stage1 gets that checkpoint's stage-1 backbone copied into
    `out` (once: later stages find it there)."""
    if not cfg.backbone or cfg.init != "stage1":
        return
    try:
        adopt_stage1(cfg.out, cfg.backbone, format=cfg.format, base=cfg.base, prompt_version=PROMPT_VERSION)
    except CheckpointError as e:
        raise ConfigError(str(e)) from None


def resume_start(cfg: TrainConfig, work: Path, run: dict[str, Any] | None) -> Path | None:
    """The checkpoint `--resume` continues from, or None when the stage never saved one.

    That is the newest local checkpoint whose files read (`checkpoints.problem`), or, with
    `resume_points`, the stage's resume point when it is newer (a local checkpoint as new wins:
    it is exact, with the AdamW state), restored as a checkpoint. Each broken checkpoint or
    resume point passed over is named in a `BrokenCheckpointWarning` and renamed `broken-*`,
    never deleted. When something was saved but nothing of it reads, this is a `TrainingError`
    that names every broken file, and nothing is moved: `--resume` asks to continue, so starting
    the stage over (hours, perhaps) is left to the user, by deleting the folders it names.
    A resume point of another run is refused as before, not passed over.
    """
    from multiagentllm.train import resume_point  # loads torch and transformers (about 4 s)

    last, broken = checkpoints.newest_intact(work)
    point, point_problem = None, None
    where = resume_point.folder(cfg.out, cfg.stage)
    if run is not None and where.is_dir():  # resume_points: true
        point_problem = resume_point.problem(where)
        point = resume_point.load(cfg.out, cfg.stage) if point_problem is None else None
    if point is not None:
        point.check(run)
        if last is not None and point.step <= checkpoints.step(last):
            point = None
    if last is None and point is None:
        whys = [why for _, why in broken] + ([point_problem] if point_problem else [])
        if whys:
            raise TrainingError(f"nothing intact to resume from: {'; '.join(whys)}. Nothing was "
                                "moved or deleted: repair those files, or delete the folders "
                                "named to start this stage over")
        return None
    then = (f"resuming from the resume point at step {point.step}" if point is not None
            else f"resuming from {last.name}")
    for folder, why in broken:
        checkpoints.skip(folder, why, then)
    if point_problem:
        checkpoints.skip(where, point_problem, then)
    return point.restore(work) if point is not None else last


def resolve_steps(cfg: TrainConfig, train_set: PackedDataset) -> int:
    """max_steps if set, else the steps that cover `token_budget`, else -1 (epochs decide)."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    if cfg.token_budget > 0:
        per_step = train_set.tokens() / len(train_set) * cfg.packs_per_step * cfg.grad_accum
        return max(1, math.ceil(cfg.token_budget / per_step / _world_size()))
    return -1


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def build_model(cfg: TrainConfig) -> tuple[Any, Any, Path]:
    """The model a stage trains: base or merged stage-1 backbone, wrapped in LoRA if configured."""
    base_path = resolve_base(cfg.base)
    tokenizer = load_tokenizer(base_path)
    if cfg.init == "stage1":
        stage1 = stage1_folder(cfg.out)
        if not stage_done(stage1):
            raise ConfigError(f"init=stage1 needs a finished stage-1 backbone at {stage1}; "
                              "train stage1_backbone first")
        model = load_backbone(base_path, stage1, full=cfg.format == "full")
    else:
        model = load_backbone(base_path)
    model.config.use_cache = False
    set_attention(model, cfg.attention)
    if cfg.format == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_targets, task_type="CAUSAL_LM"))
    return model, tokenizer, base_path


def _data_metrics(train: SplitStats, dev: SplitStats) -> dict[str, Any]:
    return {"train": train.summary(), "dev": dev.summary() if dev.path else None}


def _check_data_version(data: Path, version: str) -> None:
    stats = data / "stats.json"
    if stats.exists():
        found = json.loads(stats.read_text(encoding="utf-8")).get("prompt_version")
        if found and found != version:
            raise ConfigError(f"{data} was built with prompt format {found!r} but this code renders "
                              f"{version!r}; rebuild the data with `umi data build`")


def _publish(cfg: TrainConfig, trainer: Any, tokenizer: Any, metrics: dict[str, Any],
             prompt_version: str) -> Path:
    """Write the stage folder beside its final place, then rename it in (and update the manifest).

    `trainer.save_model` gathers sharded weights (DeepSpeed ZeRO-3, FSDP) and writes a standard
    PEFT adapter or HF model; every process must call it, only the main one writes and publishes.
    """
    out = Path(cfg.out)
    final = out / cfg.folder
    tmp = out / f".{cfg.folder}.partial"
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        _write_stage(cfg, trainer, tokenizer, metrics, prompt_version, tmp)
    # Every rank leaves only once the stage is published: in a chain the next stage (on every
    # rank) starts from this one's folder.
    trainer.accelerator.wait_for_everyone()
    return final


def _write_stage(cfg: TrainConfig, trainer: Any, tokenizer: Any, metrics: dict[str, Any],
                 prompt_version: str, tmp: Path) -> None:
    """Main process: complete the saved weights in `tmp` and rename the folder into place."""
    import yaml

    out = Path(cfg.out)
    final = out / cfg.folder
    try:
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; config.yaml says it all
        _cast_weights(tmp, cfg.save_dtype)
        if cfg.format == "full":
            tokenizer.save_pretrained(tmp)
        shown = cfg.to_dict() | {k: portable(getattr(cfg, k)) for k in ("base", "data", "out", "backbone")
                                 if getattr(cfg, k) and Path(getattr(cfg, k)).expanduser().exists()}
        (tmp / "config.yaml").write_text(yaml.safe_dump(shown, sort_keys=False))  # paths relative to the checkout
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        plot_loss(trainer.state.log_history, tmp / "loss.png", title=cfg.stage)
        write_card(tmp / "README.md", cfg, metrics, prompt_version)
        portable_adapter_config(tmp, cfg.base)
        _make_readable(tmp)
        old = None
        if final.exists():
            old = out / f".{cfg.folder}.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    update_manifest(out, cfg, prompt_version)


def _cast_weights(folder: Path, dtype_name: str) -> None:
    """Rewrite the saved floating-point weights in `dtype_name` (bf16 halves an adapter's size)."""
    import torch
    from safetensors.torch import load_file, save_file

    dtype = getattr(torch, dtype_name)
    for path in folder.glob("*.safetensors"):
        tensors = load_file(path)
        if all(t.dtype == dtype or not t.is_floating_point() for t in tensors.values()):
            continue
        cast = {k: (t.to(dtype) if t.is_floating_point() else t).contiguous() for k, t in tensors.items()}
        save_file(cast, path, metadata={"format": "pt"})


def _make_readable(folder: Path) -> None:
    """mkdtemp makes a private folder; a published stage gets the user's usual permissions."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.rglob("*"):
        f.chmod((0o777 if f.is_dir() else 0o666) & ~umask)
