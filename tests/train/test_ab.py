"""`umi train ab` and the cpu-ab preset: role stages started from another checkpoint's stage-1
backbone, two data builds trained and scored on the same pass-rate tasks, resumed without redoing
anything, and a build that trains on an evaluation task refused.

The builds are real `umi data build` outputs of a small synthesis run; the models are the tiny
random Llama of this folder's conftest, trained for one step per stage, and play the tasks for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multiagentllm import ab
from multiagentllm.checkpoint import adopt_stage1, read_manifest
from multiagentllm.cli import app
from multiagentllm.data.build import build
from multiagentllm.paths import portable
from multiagentllm.data.synth.run import synth
from multiagentllm.eval.benchmarks.passrate import FAMILIES_OF, sample_tasks
from multiagentllm.io import SkipReport, read_trajectories, write_jsonl
from multiagentllm.roles.render import PROMPT_VERSION
from multiagentllm.train import recipe
from multiagentllm.train.chain import chain_configs, run_glpft
from multiagentllm.train.config import ConfigError, TrainConfig

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
TINY = ["max_steps=1", "pack_tokens=2048", "max_length=2048", "lora_r=4", "max_train_rows=4",
        "max_dev_rows=2", "progress=false", "bf16=false", "resume_points=false"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """Two data builds of different synthesis runs (their test splits differ)."""
    root = tmp_path_factory.mktemp("builds")
    out = {}
    for side, seed in (("a", 0), ("b", 1)):
        synth(root / f"synth-{side}", 80, seed, real=())
        out[side] = build(root / f"data-{side}", sources=[], synthetic=[root / f"synth-{side}" / "trajectories.jsonl"],
                          test=0.2, tokenizer=None).out
    return out


@pytest.fixture(scope="module")
def backbone(tiny_llama, builds, tmp_path_factory) -> Path:
    """A checkpoint holding only a finished stage-1 backbone of the tiny Llama."""
    out = tmp_path_factory.mktemp("backbone")
    recipe.train_stage(TrainConfig(base=str(tiny_llama), data=str(builds["a"]), out=str(out), max_steps=1,
                                   pack_tokens=2048, max_length=2048, lora_r=4, max_train_rows=4,
                                   max_dev_rows=2, progress=False, bf16="false"))
    return out


def _tasks(test: Path, seed: int = 0, limit: int = 2) -> dict[str, list]:
    """The seeded sample of each pass-rate benchmark, as `evaluate_passrate` draws it."""
    return {name: sample_tasks(test, SkipReport(), families=FAMILIES_OF[name], limit=limit, seed=seed)[0]
            for name in ab.BENCHMARKS}


# --- the preset and the backbone -------------------------------------------------------------------

def test_cpu_ab_trains_the_three_roles_from_the_shipped_backbone_in_about_twenty_minutes():
    stages = chain_configs("cpu-ab", "DATA", "CKPT", {})
    assert [(c.stage, c.role, c.init) for c in stages] == [
        ("stage2_planner", "planner", "stage1"), ("stage2_caller", "caller", "stage1"),
        ("stage2_summarizer", "summarizer", "stage1")]
    assert {c.backbone for c in stages} == {"checkpoints/cpu-full"}
    seconds = sum(c.token_budget for c in stages) / 200  # the tok/s cpu-full was sized with
    assert 15 * 60 <= seconds <= 25 * 60  # a side; the A/B trains two
    step_tokens = stages[0].pack_tokens * stages[0].grad_accum
    assert all(c.save_steps * step_tokens / 200 <= 6 * 60 for c in stages)  # resumable every few minutes
    full = {c.stage: c for c in chain_configs("cpu-full", "DATA", "CKPT", {})}
    for c in stages:  # the same settings as the backbone's chain, but for the budgets and saving
        assert (c.base, c.lora_r, c.learning_rate, c.pack_tokens, c.seed) == (
            full[c.stage].base, full[c.stage].lora_r, full[c.stage].learning_rate, full[c.stage].pack_tokens,
            full[c.stage].seed)


def test_the_shipped_backbone_is_copied_in_and_its_origin_recorded(tmp_path):
    shipped = REPO / "checkpoints" / "cpu-full"
    manifest = adopt_stage1(tmp_path / "ckpt", shipped, format="lora", base="embedded",
                            prompt_version=PROMPT_VERSION)
    assert manifest.extra["stage1_from"] == "checkpoints/cpu-full"
    copied = read_manifest(tmp_path / "ckpt").stage1
    assert copied == tmp_path / "ckpt" / "stage1_backbone" and not manifest.roles
    assert ((copied / "adapter_model.safetensors").read_bytes()
            == (shipped / "stage1_backbone" / "adapter_model.safetensors").read_bytes())
    with pytest.raises(Exception, match="base='embedded' but these stages use 'other'"):
        adopt_stage1(tmp_path / "ckpt2", shipped, format="lora", base="other", prompt_version=PROMPT_VERSION)


def test_a_missing_or_unfinished_backbone_is_a_clear_error_before_any_training(tiny_data, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"backbone {missing}: checkpoint {missing} is not a directory"):
        run_glpft("cpu-ab", tiny_data, tmp_path / "out", {"backbone": str(missing)})
    unfinished = tmp_path / "unfinished"
    (unfinished / "stage1_backbone").mkdir(parents=True)  # killed before the stage was published
    (unfinished / "manifest.json").write_text(json.dumps({"format": "lora", "base": "embedded",
                                                          "stage1": "stage1_backbone", "roles": {}}))
    result = runner.invoke(app, ["train", "glpft", "--preset", "cpu-ab", "--data", str(tiny_data),
                                 "--out", str(tmp_path / "out"), "--backbone", str(unfinished)],
                           env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert f"backbone {unfinished} has no finished stage-1 backbone" in result.output
    assert not (tmp_path / "out" / "planner").exists()


# --- the A/B ---------------------------------------------------------------------------------------

def test_ab_trains_both_sides_compares_them_on_the_same_tasks_and_resumes(builds, backbone, tiny_llama, tmp_path,
                                                                          monkeypatch):
    out = tmp_path / "ab"
    args = ["train", "ab", "--a", str(builds["a"]), "--b", str(builds["b"]), "--out", str(out),
            "--backbone", str(backbone), "--tasks", "2", "--seed", "3", f"base={tiny_llama}", *TINY]
    trained = []
    train_stage = recipe.train_stage
    monkeypatch.setattr(recipe, "train_stage", lambda cfg, **kw: trained.append((cfg.out, cfg.stage))
                        or train_stage(cfg, **kw))
    first = runner.invoke(app, args, env={"COLUMNS": "1000"})
    assert first.exit_code == 0, first.output + repr(first.exception)
    assert "the test splits of a and b differ" in first.output
    assert len(trained) == 6  # three roles a side

    for side in ("a", "b"):
        manifest = read_manifest(out / side)
        assert set(manifest.roles) == {"planner", "caller", "summarizer"}
        assert {e.on for e in manifest.roles.values()} == {"stage1"}
        assert ((out / side / "stage1_backbone" / "adapter_model.safetensors").read_bytes()
                == (backbone / "stage1_backbone" / "adapter_model.safetensors").read_bytes())
    expected = {name: [t.id for t in tasks] for name, tasks in
                _tasks(builds["a"] / "trajectories" / "test.jsonl", seed=3).items()}
    assert all(expected.values())
    for name in ab.BENCHMARKS:  # both sides played the seeded sample of a's test split
        for side in ("a", "b"):
            items = (out / "results" / side / f"{name}-alpha-umi.items.jsonl").read_text().splitlines()
            assert [json.loads(line)["id"] for line in items] == expected[name]

    pairs = json.loads((out / "paired.json").read_text())
    assert {r["benchmark"]: r["n"] for r in pairs["rows"]} == {name: len(ids) for name, ids in expected.items()}
    assert {r["figure"] for r in pairs["rows"]} == {"pass_rate"}
    assert (pairs["a"], pairs["b"]) == ("a", "b") and f"b: `{portable(builds['b'])}`" in pairs["note"]
    paired_md = (out / "paired.md").read_text()
    assert f"| passrate_seen | Pass rate | {len(expected['passrate_seen'])} |" in paired_md
    assert "from the stage-1 backbone of" in paired_md and "Call faults" in paired_md
    settings = json.loads((out / "ab.json").read_text())
    assert settings["budgets"] == {"stage2_planner": 110000, "stage2_caller": 80000, "stage2_summarizer": 50000}
    assert (settings["tasks"], settings["seed"], settings["preset"]) == (2, 3, "cpu-ab")
    assert settings["items"] == expected
    for side in ("a", "b"):
        summary = settings["sides"][side]
        assert summary["training"]["stage2_planner"]["steps"] == 1
        assert {name: r["n"] for name, r in summary["results"].items()} == {n: len(i) for n, i in expected.items()}
        assert len(summary["files"]["trajectories/train.jsonl"]) == 64  # a sha256
    assert settings["sides"]["a"]["files"] != settings["sides"]["b"]["files"]

    stamps = {p: p.stat().st_mtime_ns for p in [*out.glob("*/*/adapter_model.safetensors"),
                                                *out.glob("results/*/*-alpha-umi.json")]}
    (out / "results" / "b" / "passrate-alpha-umi.json").unlink()  # killed before b's last report
    again = runner.invoke(app, args, env={"COLUMNS": "1000"})
    assert again.exit_code == 0, again.output + repr(again.exception)
    assert len(trained) == 6  # nothing retrained
    assert again.output.count("already finished") == 6
    assert again.output.count("finished earlier with these settings, reused") == 3
    redone = [p for p, stamp in stamps.items() if not p.exists() or p.stat().st_mtime_ns != stamp]
    assert redone == [out / "results" / "b" / "passrate-alpha-umi.json"]
    assert json.loads((out / "paired.json").read_text())["rows"] == pairs["rows"]


def test_a_build_that_trains_on_an_evaluation_task_is_refused(builds, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(builds["b"], leaky)
    task = _tasks(builds["a"] / "trajectories" / "test.jsonl")["passrate"][-1]
    train = leaky / "trajectories" / "train.jsonl"
    write_jsonl(train, [*read_trajectories(train), task])
    cfg = ab.ABConfig(a=builds["a"], b=leaky, out=tmp_path / "ab", tasks=2)
    with pytest.raises(ab.ABError, match=rf"build b \({leaky}\) trains on 1 of the evaluation tasks \({task.id}: "):
        ab.run_ab(cfg)
    assert not (tmp_path / "ab" / "a").exists()  # refused before anything trained
