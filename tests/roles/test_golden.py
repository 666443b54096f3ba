"""Golden tests: each role's prompt and target for a fixture trajectory equal checked-in texts.

Regenerate after an intended format change with `UMI_REGEN_GOLDEN=1 pytest tests/roles` (and bump
`PROMPT_VERSION`)."""

import os
from pathlib import Path

import pytest

from multiagentllm.data import builders
from multiagentllm.roles import global_format

GOLDEN = Path(__file__).parent / "golden"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UMI_REGEN_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UMI_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from the golden text"


@pytest.mark.parametrize("dataset", builders.DATASETS)
def test_rows_match_golden(weather_traj, dataset):
    rows = list(builders.STEP_ROWS[dataset](weather_traj))
    assert rows
    text = "".join(f"##### {r['id']} PROMPT\n{r['prompt']}##### COMPLETION\n{r['completion']}\n" for r in rows)
    check(f"{dataset}.txt", text)


def test_global_text_is_seed_format(weather_traj):
    expected = (
        "<s> What is the weather in Paris, and what is 11 degrees Celsius in Fahrenheit? </s>\n"
        "Rationale 1: First I need the current weather in Paris.\n"
        'Action 1: get_weather {"city": "Paris"}\n'
        'Observation 1: {"city": "Paris", "temp_c": 11, "sky": "cloudy"}\n'
        "Rationale 2: Paris is at 11 C; now convert 11 C to Fahrenheit.\n"
        'Action 2: convert_temperature {"value": 11, "to": "f"}\n'
        'Observation 2: {"value": 51.8, "unit": "f"}\n'
        "Rationale 3: I have the weather and the conversion, so I can answer.\n"
        "Answer: It is cloudy and 11 °C in Paris, which is 51.8 °F."
    )
    assert global_format.text(weather_traj) == expected


def test_global_give_up_ends_with_give_up(trajectories):
    text = global_format.text(trajectories[1])
    assert text.startswith("<s> Order me a pizza to my office. </s>\nRationale 1: ")
    assert text.endswith("\nGive up.")


def test_planner_targets_end_with_decision(trajectories):
    ends = [r["completion"].splitlines()[-1] for t in trajectories for r in builders.planner_rows(t)]
    assert ends == ["Next: Caller", "Next: Caller", "Next: Summarizer", "Next: Give up"]


def test_caller_and_summarizer_targets(weather_traj):
    calls = [r["completion"] for r in builders.caller_rows(weather_traj)]
    assert calls == ['Action: get_weather\nAction Input: {"city": "Paris"}',
                     'Action: convert_temperature\nAction Input: {"value": 11, "to": "f"}']
    (summary,) = builders.summarizer_rows(weather_traj)
    assert summary["completion"] == weather_traj.answer
    assert summary["prompt"].endswith("Next: Summarizer\nAnswer:\n")
