"""The role registry: what it answers is what training rendered and what the turn modules say."""

import pytest

from multiagentllm.data import builders
from multiagentllm.roles import caller, planner, registry, summarizer
from multiagentllm.roles.registry import DATASETS, MODEL_ROLES, ROLES, TRIO
from multiagentllm.roles.render import system_prompt
from multiagentllm.train.config import ConfigError, TrainConfig


def runtime_prompts(traj, role):
    """Every prompt the runtime renders for `role`'s model over `traj`, in episode order."""
    r, out = ROLES[role], []
    for k, step in enumerate(traj.steps):
        if "planner" in r.turns:
            out.append(r.prompt("planner", traj.instruction, traj.tools, traj.steps[:k]))
        if "caller" in r.turns and step.action is not None:
            out.append(r.prompt("caller", traj.instruction, traj.tools, traj.steps[:k], step.rationale))
    if "summarizer" in r.turns and traj.steps[-1].next == "summarizer" and traj.answer:
        out.append(r.prompt("summarizer", traj.instruction, traj.tools, traj.steps))
    return out


@pytest.mark.parametrize("role", MODEL_ROLES)
def test_runtime_prompts_are_the_training_prompts(trajectories, role):
    for traj in trajectories:
        assert runtime_prompts(traj, role) == [r["prompt"] for r in builders.STEP_ROWS[role](traj)]


def test_single_prompt_is_the_turn_prompt_under_the_single_system_prompt(weather_traj):
    t = weather_traj
    for turn in TRIO:
        alone = registry.prompt(turn, t.instruction, t.tools, t.steps[:1], "Convert it.")
        shared = registry.prompt(turn, t.instruction, t.tools, t.steps[:1], "Convert it.", single=True)
        assert alone.startswith(system_prompt(turn)) and shared.startswith(system_prompt("single"))
        assert alone[len(system_prompt(turn)):] == shared[len(system_prompt("single")):]


def test_only_the_caller_reads_the_rationale(weather_traj):
    t = weather_traj
    for turn in ("planner", "summarizer"):
        assert registry.prompt(turn, t.instruction, t.tools, t.steps, "ignored") == \
            registry.prompt(turn, t.instruction, t.tools, t.steps)
    with_rationale = registry.prompt("caller", t.instruction, t.tools, [], "Look up Paris.")
    assert with_rationale.endswith("Rationale: Look up Paris.\nNext: Caller\n")


def test_stop_strings_and_budgets_are_the_turn_modules(monkeypatch):
    assert [registry.stop(t) for t in TRIO] == [planner.STOP, caller.STOP, summarizer.STOP]
    assert [registry.max_new_tokens(t) for t in TRIO] == [160, 128, 256]
    monkeypatch.setattr(caller, "MAX_NEW_TOKENS", 7)  # read when asked, not copied at import
    assert registry.max_new_tokens("caller") == 7


def test_model_roles():
    assert [registry.model_role(t) for t in TRIO] == list(TRIO)
    assert {registry.model_role(t, single=True) for t in TRIO} == {"single"}
    assert MODEL_ROLES == (*TRIO, "single")
    assert registry.episode_roles() == TRIO and registry.episode_roles(single=True) == ("single",)


def test_a_role_renders_only_its_own_turns(weather_traj):
    t = weather_traj
    with pytest.raises(ValueError, match="writes no 'caller' turn"):
        ROLES["planner"].prompt("caller", t.instruction, t.tools, [], "x")
    with pytest.raises(ValueError, match="writes no 'planner' turn"):
        ROLES["global"].prompt("planner", t.instruction, t.tools, [])
    with pytest.raises(ValueError, match="unknown turn 'critic'"):
        registry.prompt("critic", t.instruction, t.tools, [])
    with pytest.raises(ValueError, match="unknown role 'critic'"):
        system_prompt("critic")


def test_every_role_has_a_system_prompt_and_a_dataset(trajectories):
    assert DATASETS == ("global", "planner", "caller", "summarizer", "single")  # stage 1 first
    assert set(builders.STEP_ROWS) == set(DATASETS)
    for name, role in ROLES.items():
        assert system_prompt(name)
        assert registry.dataset_role(role.dataset) is role
        assert builders.sequence(trajectories[0], role.dataset).text.startswith(system_prompt(name))
    with pytest.raises(ValueError, match="unknown dataset"):
        registry.dataset_role("critic")


def test_training_accepts_the_registry_datasets_only(tmp_path):
    for name in DATASETS:
        TrainConfig(dataset=name, data=str(tmp_path), out=str(tmp_path)).validate()
    with pytest.raises(ConfigError, match="dataset 'critic'"):
        TrainConfig(dataset="critic", data=str(tmp_path), out=str(tmp_path)).validate()
