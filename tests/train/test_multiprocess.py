"""One GLPFT stage trained by several processes under `accelerate launch`, on this CPU (gloo).

Two processes give the adapter that one process gives with the same global batch, only rank 0
writes the published stage, and a rank killed mid-stage leaves a checkpoint that the same
command resumes to the same adapter. The FSDP config launches on a CPU but accelerate trains it
as plain DDP (and the recipe says so); DeepSpeed ZeRO-2/3 run on a CPU when deepspeed is
installed (the `gpu` extra), else their tests are skipped.

    make test-multiproc        # pytest -m multiproc: ~2 min on 2 cores, ~3 with deepspeed

Every run below trains 6 steps of 4 packs (3 epochs of the 8 distinct packs of the tiny data):
two processes x grad_accum 2, or one process x grad_accum 4.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

pytestmark = [pytest.mark.multiproc,
              pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch without gloo")]

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("launch_probe.py")
CONFIGS = REPO / "configs" / "accelerate"
STAGE = "stage1_backbone"
PUBLISHED = {"manifest.json", *(f"{STAGE}/{name}" for name in (
    "README.md", "adapter_config.json", "adapter_model.safetensors", "config.yaml", "loss.png",
    "metrics.json"))}
# fp32 throughout. The processes' gradients are summed by gloo in another order than one process
# accumulates them, which moves single weights by ~1e-7 over these 6 AdamW steps (measured: at
# most 3.9e-7 for DDP, 1.2e-6 for DeepSpeed). A run that saw other packs or normalised its loss
# differently lands ~1e-2 away (one process with half the global batch: 2.5e-2), and training
# moves the LoRA B matrices (zero at start) by ~0.19, so 1e-5 separates right from wrong.
ATOL = 1e-5


@pytest.fixture(scope="module")
def stage(tiny_llama, distinct_data, tmp_path_factory) -> Path:
    """The stage's YAML (the tiny model, data with 8 distinct packs, fp32, checkpoints at 3 and 6)."""
    root = tmp_path_factory.mktemp("multiproc")
    config = {"base": str(tiny_llama), "data": str(distinct_data),
              "stage": STAGE, "max_steps": 6, "pack_tokens": 512, "max_length": 512,
              "learning_rate": 5e-3, "warmup": 0, "logging_steps": 1, "save_steps": 3,
              "lora_r": 4, "lora_alpha": 8, "progress": False, "bf16": "false", "save_dtype": "float32"}
    path = root / "stage.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
                               **env})


def launch(config: str, stage: Path, out: Path, *extra: str, script: list[str] | None = None,
           **env: str) -> subprocess.CompletedProcess:
    """`accelerate launch --config_file configs/accelerate/CONFIG -m multiagentllm.cli train --config
    STAGE --resume out=OUT grad_accum=2 ...` on 2 processes (or `script` in place of the module)."""
    return run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
                "--num_processes", "2", "--main_process_port", "0",
                *(script or ["-m", "multiagentllm.cli", "train"]),
                "--config", str(stage), "--resume", f"out={out}", "grad_accum=2", *extra], **env)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / STAGE / "adapter_model.safetensors")


def metrics(out: Path) -> dict:
    return json.loads((out / STAGE / "metrics.json").read_text())


def max_diff(a: Path, b: Path) -> float:
    wa, wb = adapter(a), adapter(b)
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def assert_same_training(a: Path, b: Path) -> float:
    """Adapters within ATOL, and the same loss at every step; returns the largest weight difference."""
    diff = max_diff(a, b)
    assert diff <= ATOL, f"adapters differ by {diff:.3g}"
    la, lb = metrics(a)["loss_log"], metrics(b)["loss_log"]
    assert [s for s, _ in la] == [s for s, _ in lb] == list(range(1, 7))
    assert max(abs(x - y) for (_, x), (_, y) in zip(la, lb)) <= ATOL
    return diff


def tree(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def one_process(stage, tmp_path_factory) -> Path:
    """The same stage by plain `umi train` in one process: grad_accum 4, the same 4 packs a step."""
    out = tmp_path_factory.mktemp("one") / "ckpt"
    ok(run([sys.executable, "-m", "multiagentllm.cli", "train", "--config", str(stage), f"out={out}",
            "grad_accum=4"]))
    return out


@pytest.fixture(scope="module")
def ddp(stage, tmp_path_factory) -> tuple[Path, dict[int, list]]:
    """2 processes, DDP over gloo (configs/accelerate/cpu_ddp.yaml), each rank's writes recorded."""
    root = tmp_path_factory.mktemp("ddp")
    ok(launch("cpu_ddp.yaml", stage, root / "ckpt", script=[str(PROBE)],
              UMI_PROBE_WRITES=str(root / "writes")))
    writes = {r: [tuple(w) for w in json.loads((root / "writes" / f"rank{r}.json").read_text())]
              for r in (0, 1)}
    return root / "ckpt", writes


def test_two_processes_train_the_adapter_one_process_trains(ddp, one_process):
    out, _ = ddp
    diff = assert_same_training(out, one_process)
    print(f"DDP (2 processes, gloo) vs 1 process: adapters differ by at most {diff:.2g}")
    lora_b = [w for k, w in adapter(out).items() if "lora_B" in k]
    assert lora_b and min(w.abs().max().item() for w in lora_b) > 100 * ATOL  # trained, not still 0
    m = metrics(out)
    assert (m["processes"], m["engine"], m["bf16"]) == (2, "MULTI_CPU", False)
    # throughput counts the packs of both processes: 3 epochs of the training tokens
    tokens = m["tokens_per_second"] * m["train_seconds_this_run"]
    assert abs(tokens / (3 * m["data"]["train"]["tokens"]) - 1) < 0.02


def test_only_rank_0_publishes(ddp):
    out, writes = ddp
    assert tree(out) == PUBLISHED  # nothing twice, nothing partial, the work folder cleaned away
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage1"] == STAGE
    # rank 1 made the work folders it saves into (with their parents, when it came first) and
    # wrote its own RNG state there, nothing else
    for kind, path in writes[1]:
        if kind == "mkdir":
            assert path in (".", ".work") or path.startswith(f".work/{STAGE}"), path
        else:
            assert kind == "write" and path.startswith(f".work/{STAGE}/checkpoint-"), (kind, path)
            assert path.endswith("/rng_state_1.pth"), path
    assert {".work/stage1_backbone/checkpoint-3/rng_state_1.pth"} <= {p for _, p in writes[1]}
    # rank 0 wrote the stage beside its place, renamed it in, and wrote the manifest
    assert ("change", STAGE) in writes[0] and ("change", "manifest.json") in writes[0]


def test_a_killed_rank_leaves_a_stage_the_same_command_resumes(ddp, stage, tmp_path):
    out = tmp_path / "ckpt"
    died = launch("cpu_ddp.yaml", stage, out, script=[str(PROBE)], UMI_PROBE_KILL="1:5")
    assert died.returncode != 0
    assert "Signal 9 (SIGKILL) received" in died.stderr  # the launcher names the rank that died
    work = f".work/{STAGE}/checkpoint-3"
    assert tree(out) == {f"{work}/{name}" for name in (
        "README.md", "adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt",
        "trainer_state.json", "training_args.bin", "rng_state_0.pth", "rng_state_1.pth")}

    ok(launch("cpu_ddp.yaml", stage, out))  # the same command, without the probe
    assert tree(out) == PUBLISHED
    m = metrics(out)
    assert m["resumed_from"] == "checkpoint-3" and m["train_loss_steps"] == [4, 6]
    diff = assert_same_training(out, ddp[0])
    print(f"killed at step 5, resumed from checkpoint-3: adapter differs by at most {diff:.2g}")


def test_the_fsdp_config_trains_as_ddp_on_a_cpu_and_says_so(stage, one_process, tmp_path):
    """accelerate 1.15 turns ACCELERATE_USE_FSDP into FSDP only on GPU-like devices; on a CPU the
    run is MULTI_CPU DDP. The config's bf16 is overruled by the stage's `bf16: false`."""
    done = ok(launch("fsdp.yaml", stage, tmp_path / "ckpt"))
    assert "asks for FSDP, but accelerate set up MULTI_CPU" in done.stderr
    assert "asks for mixed_precision=bf16; the training config (bf16: false) gives no" in done.stderr
    m = metrics(tmp_path / "ckpt")
    assert (m["engine"], m["bf16"]) == ("MULTI_CPU", False)
    assert_same_training(tmp_path / "ckpt", one_process)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                    reason="deepspeed is not installed (pip install deepspeed==0.19.8, the gpu extra)")
@pytest.mark.parametrize("config", ["deepspeed_zero2.yaml", "deepspeed_zero3.yaml"])
def test_deepspeed_trains_the_same_adapter_on_a_cpu(stage, one_process, tmp_path, config):
    """DeepSpeed's CPU accelerator (gloo, plus a shared-memory op it compiles on first use)."""
    done = ok(launch(config, stage, tmp_path / "ckpt"))
    assert "asks for DeepSpeed" not in done.stderr
    assert metrics(tmp_path / "ckpt")["engine"] == "DEEPSPEED"
    diff = assert_same_training(tmp_path / "ckpt", one_process)
    print(f"{config} (2 processes) vs 1 process: adapters differ by at most {diff:.2g}")
