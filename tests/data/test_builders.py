"""The sequence rows are the per-step rows folded together: same prompts, same targets."""

import pytest

from multiagentllm.data import builders
from multiagentllm.roles import caller, planner, summarizer


@pytest.mark.parametrize("dataset", ["planner", "caller", "summarizer", "single"])
def test_sequence_is_prefix_stable(trajectories, dataset):
    """Every per-step row's prompt is a prefix of the sequence, and its completion starts at a
    supervised span, i.e. one multi-span row trains exactly the per-step targets."""
    for traj in trajectories:
        rows = list(builders.STEP_ROWS[dataset](traj))
        seq = builders.sequence(traj, dataset)
        if not rows:
            assert seq is None
            continue
        assert len(seq.spans) == len(rows)
        for row, (start, end) in zip(rows, seq.spans):
            # prompts differ only in the system prompt header for single vs role; compare tails
            assert seq.text[:start].endswith(row["prompt"].split("</s>\n", 1)[1])
            assert seq.text[start:end].rstrip("\n") == row["completion"]


def test_observations_never_supervised(weather_traj):
    for dataset in builders.DATASETS:
        seq = builders.sequence(weather_traj, dataset)
        for start, end in seq.spans:
            assert "Observation" not in seq.text[start:end], dataset
            assert "temp_c" not in seq.text[start:end], dataset


def test_runtime_prompt_equals_training_prompt(weather_traj):
    t = weather_traj
    seq = builders.sequence(t, "planner")
    assert seq.text[: seq.spans[1][0]] == planner.prompt(t.instruction, t.tools, t.steps[:1])
    seq = builders.sequence(t, "caller")
    assert seq.text[: seq.spans[1][0]] == caller.prompt(t.instruction, t.tools, t.steps[:1], t.steps[1].rationale)
    seq = builders.sequence(t, "summarizer")
    assert seq.text[: seq.spans[0][0]] == summarizer.prompt(t.instruction, t.tools, t.steps)


def test_give_up_has_no_summarizer_rows(trajectories):
    giveup = trajectories[1]
    assert list(builders.summarizer_rows(giveup)) == []
    assert builders.sequence_row(giveup, "summarizer") is None
    assert builders.sequence_row(giveup, "caller") is None
    (row,) = builders.planner_rows(giveup)
    assert row["completion"].endswith("Next: Give up")


def test_single_rows_follow_trajectory_order(weather_traj):
    rows = list(builders.single_rows(weather_traj))
    kinds = [r["completion"].split(":")[0] for r in rows[:-1]]
    assert kinds == ["Rationale", "Action", "Rationale", "Action", "Rationale"]
    assert rows[-1]["completion"] == weather_traj.answer
    assert [r["id"] for r in rows] == [f"fx-weather-1#single{i}" for i in range(6)]
