"""World replay and fact checks: one module that synthesis verifies with and the pass rate judges with."""

import ast
from pathlib import Path

import multiagentllm
from multiagentllm.tools.replay import (
    base_registry, check_facts, expected_state, fresh_for, number_tokens, numbers, world_state,
)
from multiagentllm.types import Step, ToolCall, Trajectory

ENV = {"seed": 7, "now": "2024-06-05T09:00"}
CALL = ToolCall("create_event", {"title": "Dentist", "date": "2024-06-11", "time": "17:30"})


def played(answer: str, facts: list[str]) -> Trajectory:
    """A solved trajectory whose one call was executed in the world `ENV` describes."""
    obs = base_registry().fresh(seed=ENV["seed"], now=ENV["now"]).call(CALL.name, CALL.arguments).content
    return Trajectory(id="t", instruction="Put the dentist on June 11 at 17:30.",
                      tools=base_registry().schemas([CALL.name]),
                      steps=[Step("Create the event.", "caller", CALL, obs), Step("Done.", "summarizer")],
                      answer=answer, meta={"env": ENV, "facts": facts})


def test_replay_rebuilds_the_world_and_reads_what_the_calls_left():
    traj = played("Booked.", [])
    fresh = fresh_for(traj)
    assert fresh.world.seed == 7 and fresh.world.now.isoformat().startswith("2024-06-05T09:00")
    assert world_state(fresh) == {"bookings": [], "events": []}  # nothing replayed yet
    assert expected_state(traj) == {"bookings": [], "events": [("Dentist", "2024-06-11", "17:30")]}
    assert world_state(fresh) == {"bookings": [], "events": []}  # each replay has its own world


def test_fact_check_wants_declared_facts_and_grounded_numbers():
    assert check_facts(played("Your dentist visit is on 2024-06-11 at 17:30.", ["Dentist"])) is None
    assert check_facts(played("The visit is on 2024-06-11.", ["Dentist"])) == "answer misses a fact"
    assert check_facts(played("Dr. Who at 17:30.", ["Dr. Who"])) == "fact not in observations"
    assert check_facts(played("Dentist at 18:45.", [])) == "answer states an ungrounded number"
    given_up = played("Dentist at 18:45.", [])
    given_up.outcome = "given_up"
    assert check_facts(given_up) is None  # only a solved answer is checked


def test_numbers_are_read_one_way():
    assert number_tokens("15,500 JPY on 2024-06-11 at 17:35") == ["15,500", "2024", "06", "11", "17", "35"]
    assert numbers("15,500 JPY and 15500.0") == {"15500"}


def test_tools_know_nothing_of_data_eval_or_the_layers_above():
    """Every import in `multiagentllm/tools/`, at the top or inside a function, stays in the
    tools layer or below it (types, io, paths)."""
    allowed = ("multiagentllm.tools", "multiagentllm.types", "multiagentllm.io", "multiagentllm.paths")
    root = Path(multiagentllm.__file__).parent / "tools"
    wrong = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            wrong += [f"{path.relative_to(root)}: {n}" for n in names
                      if n.startswith("multiagentllm") and not n.startswith(allowed)]
    assert wrong == []
