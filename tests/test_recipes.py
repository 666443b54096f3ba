"""recipes/reproduce_tinyllama.sh and recipes/cpu_full.sh cannot drift from the CLI: each is run here with a stand-in
`python` that records each call instead of doing the work, and every `umi` call it made is
checked against the real typer app (every `umi train` one is parsed into a TrainConfig exactly
as `umi train` does, every `accelerate launch` one by accelerate's own parser)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from multiagentllm.train.config import build, parse_overrides, preset_path, read_yaml, stage_names
from umi_commands import check_umi_command

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "reproduce_tinyllama.sh"
CPU_FULL = REPO / "recipes" / "cpu_full.sh"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash not found")

STUB = """#!/usr/bin/env bash
# stands in for python: records UMI_DATA_ROOT and its arguments, one call per line, and succeeds
{ printf '%q ' "${UMI_DATA_ROOT-}" "$@"; echo; } >> "$UMI_RECIPE_LOG"
"""


def _run(tmp_path: Path, *steps: str, script: Path = SCRIPT,
         **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the recipe's `steps` with the stand-in python; (the result, each call's arguments with
    the UMI_DATA_ROOT it saw first)."""
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    full = {**os.environ, "PYTHON": str(stub), "UMI_RECIPE_LOG": str(log), "WORK": str(tmp_path / "work"),
            "NUM_GPUS": "1", "ACCELERATE_CONFIG": "", "TRAIN_OVERRIDES": "", **env}
    done = subprocess.run([BASH, str(script), *steps], env=full, capture_output=True, text=True,
                          timeout=60)
    lines = log.read_text().splitlines() if log.exists() else []
    return done, [shlex.split(line) for line in lines]


def _umi(calls: list[list[str]]) -> list[list[str]]:
    """The `umi` part of every call that runs the CLI (directly or under accelerate)."""
    out = []
    for _, *call in calls:
        for i in range(len(call) - 1):
            if call[i] == "-m" and call[i + 1] == "multiagentllm.cli":
                out.append(["umi", *call[i + 2:]])
                break
    return out


def _accelerate(calls: list[list[str]]) -> list[list[str]]:
    """The arguments of every `accelerate launch`, up to the module it runs."""
    return [call[3:] for call in calls if call[1:3] == ["-m", "accelerate.commands.launch"]]


def _check_train(argv: list[str], work: Path) -> str:
    """Parse a `umi train --config F [--resume] k=v ...` call as `umi train` does; its stage."""
    loose = check_umi_command(argv)
    config = argv[argv.index("--config") + 1]
    cfg = build(read_yaml(config), parse_overrides(loose), where=config)
    assert cfg.data == str(work / "data") and cfg.out == str(work / "checkpoint")
    assert "--resume" in argv  # an interrupted stage continues instead of refusing to start
    return cfg.stage


@pytest.mark.parametrize("script", [SCRIPT, CPU_FULL], ids=lambda p: p.name)
def test_script_is_valid_bash_and_names_its_steps(tmp_path, script):
    subprocess.run([BASH, "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert "set -euo pipefail" in text
    done, calls = _run(tmp_path, "bogus", script=script)
    assert done.returncode == 1 and "unknown step 'bogus'" in done.stderr
    assert calls == []


def _cpu_full_env(tmp_path: Path) -> dict[str, str]:
    work = tmp_path / "work"
    return {"SYNTH": str(work / "synth"), "DATA": str(work / "data"), "CKPT": str(work / "ckpt"),
            "EVAL": str(work / "results"), "DATA_ROOT": "/datasets", "EVAL_DATA": str(work / "data"),
            "EVAL_SYNTH": str(work / "synth" / "trajectories.jsonl")}


def test_cpu_full_recipe_builds_data_trains_the_chain_and_evaluates(tmp_path):
    env = _cpu_full_env(tmp_path)
    done, calls = _run(tmp_path, script=CPU_FULL, **env)
    assert done.returncode == 1 and "run the data step first" in done.stderr  # the stub writes nothing
    umi = _umi(calls)
    assert [c[:3] for c in umi] == [["umi", "data", "synth"], ["umi", "data", "build"]]
    Path(env["DATA"]).mkdir(parents=True)
    (Path(env["DATA"]) / "stats.json").write_text("{}")
    (Path(env["SYNTH"])).mkdir(parents=True)
    (Path(env["SYNTH"]) / "card.md").write_text("done")
    done, calls = _run(tmp_path, script=CPU_FULL, **env)
    assert done.returncode == 1 and "no checkpoint at" in done.stderr  # data skipped, train ran, eval refused
    umi = _umi(calls)
    assert [c[:3] for c in umi] == [["umi", "train", "glpft"]]
    train = umi[0]
    check_umi_command(train)
    assert train[train.index("--preset") + 1] == "cpu-full" and "--resume" in train
    assert train[train.index("--out") + 1] == env["CKPT"] and "--stage" not in train
    done, calls = _run(tmp_path, "train", script=CPU_FULL, STAGES="stage2_caller single", **env)
    train = _umi(calls)[0]
    assert [train[i + 1] for i, a in enumerate(train) if a == "--stage"] == ["stage2_caller", "single"]
    for stage in ("stage2_caller", "single"):
        assert stage in stage_names(read_yaml(preset_path("cpu-full")))
    Path(env["CKPT"]).mkdir()
    (Path(env["CKPT"]) / "manifest.json").write_text("{}")
    done, calls = _run(tmp_path, "eval", script=CPU_FULL, **env)
    assert done.returncode == 1 and "no evaluation items at" in done.stderr and _umi(calls) == []
    Path(env["EVAL_SYNTH"]).write_text("")
    done, calls = _run(tmp_path, "eval", script=CPU_FULL, **env)
    assert done.returncode == 0, done.stderr
    [suite] = _umi(calls)
    check_umi_command(suite)
    assert suite[:3] == ["umi", "eval", "suite"] and calls[0][0] == "/datasets"
    assert suite[suite.index("--out") + 1] == env["EVAL"]
    assert suite[suite.index("--data") + 1] == env["EVAL_DATA"]
    assert suite[suite.index("--synth") + 1] == env["EVAL_SYNTH"]


def test_cpu_full_recipe_v2_mix_has_its_own_data_checkpoint_and_results(tmp_path):
    """MIX=v2 synthesizes with recipe v2, builds with the three added sources and keeps every
    output apart from v1's (the recipe's own defaults: a copy of it in an empty checkout)."""
    (tmp_path / "recipes").mkdir()
    script = Path(shutil.copy2(CPU_FULL, tmp_path / "recipes" / "cpu_full.sh"))

    def data_calls(**env: str) -> list[list[str]]:
        done, calls = _run(tmp_path, "data", script=script, DATA_ROOT="/datasets", **env)
        assert done.returncode == 0, done.stderr
        return _umi(calls)

    synth, build_ = data_calls(MIX="v2")
    for argv in (synth, build_):
        check_umi_command(argv)
    assert synth[synth.index("--recipe") + 1] == "v2"
    assert synth[synth.index("--out") + 1] == str(tmp_path / "out" / "synth-v2")
    assert build_[build_.index("--out") + 1] == str(tmp_path / "out" / "data-v2")
    sources = build_[build_.index("--sources") + 1].split(",")
    assert {"taubench_retail", "glaive", "fireact"} <= set(sources) and len(sources) == len(set(sources))
    synth, build_ = data_calls()
    assert synth[synth.index("--recipe") + 1] == "v1" and build_[build_.index("--out") + 1] == str(tmp_path / "out" / "data")
    from multiagentllm.data.build import DEFAULT_SOURCES

    assert build_[build_.index("--sources") + 1].split(",") == list(DEFAULT_SOURCES)  # v1: the build's defaults
    # v2 is measured on v1's items (its test split and held-out tasks), so the two pair item for item
    for folder in ("out/data", "out/synth", "checkpoints/cpu-full-v2"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "out" / "data" / "stats.json").write_text("{}")
    (tmp_path / "checkpoints" / "cpu-full-v2" / "manifest.json").write_text("{}")
    (tmp_path / "out" / "synth" / "trajectories.jsonl").write_text("")
    done, calls = _run(tmp_path, "eval", script=script, MIX="v2", DATA_ROOT="/datasets")
    assert done.returncode == 0, done.stderr
    [suite] = _umi(calls)
    assert suite[suite.index("--checkpoint") + 1] == str(tmp_path / "checkpoints" / "cpu-full-v2")
    assert suite[suite.index("--data") + 1] == str(tmp_path / "out" / "data")
    assert suite[suite.index("--synth") + 1] == str(tmp_path / "out" / "synth" / "trajectories.jsonl")
    assert suite[suite.index("--out") + 1] == str(tmp_path / "results" / "cpu-full-v2")
    bad, calls = _run(tmp_path, "data", script=script, MIX="v3")
    assert bad.returncode == 1 and "MIX=v3" in bad.stderr and calls == []


def test_data_step_calls_existing_commands_and_skips_finished_work(tmp_path):
    done, calls = _run(tmp_path, "data", DATA_ROOT="/datasets", BASE_MODEL="/models/tinyllama")
    assert done.returncode == 0, done.stderr
    umi = _umi(calls)
    assert [c[:3] for c in umi] == [["umi", "data", "synth"], ["umi", "data", "build"]]
    for argv in umi:
        check_umi_command(argv)
    build_call = umi[1]
    assert build_call[build_call.index("--tokenizer") + 1] == "/models/tinyllama"
    assert build_call[build_call.index("--synthetic") + 1] == str(tmp_path / "work" / "synth")
    (tmp_path / "work" / "synth").mkdir(parents=True)
    (tmp_path / "work" / "synth" / "card.md").write_text("done")
    (tmp_path / "work" / "data").mkdir()
    (tmp_path / "work" / "data" / "stats.json").write_text("{}")
    done, calls = _run(tmp_path, "data")
    assert done.returncode == 0 and _umi(calls) == [] and "done before" in done.stderr


def _trained_work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "stats.json").write_text("{}")
    return work


@pytest.mark.parametrize("gpus, config", [("1", "single_gpu.yaml"), ("4", "deepspeed_zero2.yaml")])
def test_train_step_runs_every_preset_stage_under_accelerate(tmp_path, gpus, config):
    work = _trained_work(tmp_path)
    done, calls = _run(tmp_path, "train", NUM_GPUS=gpus)
    assert done.returncode == 0, done.stderr
    stages = [_check_train(argv, work) for argv in _umi(calls)]
    assert stages == stage_names(read_yaml(preset_path("tinyllama")))  # all of them, in chain order
    from accelerate.commands.launch import launch_command_parser

    launches = _accelerate(calls)
    assert len(launches) == len(stages)
    for args in launches:
        parsed = launch_command_parser().parse_args(args)
        assert parsed.module and parsed.training_script == "multiagentllm.cli"
        assert parsed.num_processes == int(gpus)
        assert Path(parsed.config_file).name == config and (REPO / parsed.config_file).exists()


def test_train_step_skips_finished_stages_and_passes_overrides(tmp_path):
    work = _trained_work(tmp_path)
    raw = read_yaml(preset_path("tinyllama"))
    planner = build(raw, {"data": "d", "out": "o"}, stage="stage2_planner").folder
    (work / "checkpoint" / planner).mkdir(parents=True)
    (work / "checkpoint" / planner / "metrics.json").write_text("{}")
    done, calls = _run(tmp_path, "train", NUM_GPUS="2", ACCELERATE_CONFIG="configs/accelerate/fsdp.yaml",
                       TRAIN_OVERRIDES="packs_per_step=2 grad_accum=4")
    assert done.returncode == 0, done.stderr
    umi = _umi(calls)
    assert "stage2_planner" not in [_check_train(argv, work) for argv in umi]
    assert len(umi) == len(stage_names(raw)) - 1
    for argv in umi:
        cfg = build(read_yaml(argv[argv.index("--config") + 1]), parse_overrides(check_umi_command(argv)))
        assert (cfg.packs_per_step, cfg.grad_accum) == (2, 4)
        assert cfg.gradient_checkpointing is False  # FSDP checkpoints activations itself
        assert cfg.accelerate_config == "configs/accelerate/fsdp.yaml"


def test_train_step_refuses_without_gpu_or_data(tmp_path):
    done, calls = _run(tmp_path, "train", NUM_GPUS="0")
    assert done.returncode == 1 and "no GPU found" in done.stderr
    done, calls = _run(tmp_path, "train", NUM_GPUS="1")
    assert done.returncode == 1 and "run the data step first" in done.stderr
    assert _umi(calls) == []


def test_eval_and_export_steps_call_existing_commands(tmp_path):
    work = _trained_work(tmp_path)
    (work / "checkpoint").mkdir()
    (work / "checkpoint" / "manifest.json").write_text("{}")
    done, calls = _run(tmp_path, "eval", "export", DATA_ROOT="/datasets")
    assert done.returncode == 0, done.stderr
    umi = _umi(calls)
    assert [c[:3] for c in umi] == [["umi", "eval", "suite"], ["umi", "export", "vllm"]]
    for argv in umi:
        check_umi_command(argv)
    assert calls[0][0] == "/datasets"  # where `umi eval` looks for BFCL and APIBench
    assert Path(umi[0][umi[0].index("--synth") + 1]) == work / "synth" / "trajectories.jsonl"
    assert umi[1][umi[1].index("--checkpoint") + 1] == str(work / "checkpoint")
    # eval leaves a stamp; an export is finished when its serve.md exists (it is written atomically)
    (work / "vllm").mkdir()
    (work / "vllm" / "serve.md").write_text("done")
    done, calls = _run(tmp_path, "eval", "export")
    assert done.returncode == 0 and _umi(calls) == []


def test_deepspeed_pin_matches_the_gpu_extra():
    pin = re.search(r'DEEPSPEED_PIN="([^"]+)"', SCRIPT.read_text()).group(1)
    assert f'gpu = ["{pin}"]' in (REPO / "pyproject.toml").read_text()


def test_command_checker_rejects_what_the_cli_does_not_have():
    with pytest.raises(AssertionError, match="no subcommand 'nope'"):
        check_umi_command(["umi", "eval", "nope"])
    with pytest.raises(AssertionError, match="no option --nope"):
        check_umi_command(["umi", "run", "a query", "--nope", "x"])
    assert check_umi_command(["umi", "run", "a query", "--model", "{role}"]) == ["a query"]


def test_readme_commands_exist():
    """Every `umi ...` line (and the `umi` part of every `accelerate launch` line) in the README."""
    text = (REPO / "recipes" / "README.md").read_text().replace("\\\n", " ")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    checked = 0
    for line in lines:
        argv = shlex.split(line, comments=True)
        if argv[:2] == ["accelerate", "launch"]:
            argv = ["umi", *argv[argv.index("multiagentllm.cli") + 1:]]
        if argv[:1] == ["umi"]:
            loose = check_umi_command(argv)
            if argv[1] == "train" and "--config" in argv:
                build(read_yaml(REPO / argv[argv.index("--config") + 1]), parse_overrides(loose))
            checked += 1
    assert checked >= 6  # cpu_full: a train and a suite line; tinyllama: the accelerate line, eval suite, two exports
