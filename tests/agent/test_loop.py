"""The real agent loop with scripted models and real tools: every way an episode can end, every way
a model or a tool can fail, and the record saved along the way."""

from __future__ import annotations

import json
import time

import pytest
from agent_helpers import last_observation

from multiagentllm.agent import Agent, AgentConfig, QueryError
from multiagentllm.models.backends import ScriptedLLM
from multiagentllm.roles import caller, planner, summarizer
from multiagentllm.roles.registry import ROLES
from multiagentllm.tools.retrieval import DEFAULT_K
from multiagentllm.types import Trajectory

FLIGHT = "Book me a flight from New York to Los Angeles next Tuesday"


def plan(rationale: str, next_: str = "Caller") -> str:
    return f"Rationale: {rationale}\nNext: {next_}"


def call(name: str, **args) -> str:
    return f"Action: {name}\nAction Input: {json.dumps(args)}"


def run(registry, script, tmp_path=None, *, single_mode=False, toolset=None, query=FLIGHT, **config):
    llm = ScriptedLLM(script)
    save = tmp_path / "traj.json" if tmp_path else None
    agent = Agent(llm, registry, AgentConfig(**config), single_mode=single_mode, save_path=save)
    return agent.run(query, toolset=toolset), llm


def saved(tmp_path) -> dict:
    return json.loads((tmp_path / "traj.json").read_text())


def test_flight_example_end_to_end(registry, tmp_path):
    """Search NY -> LA next Tuesday, book the cheaper flight, answer with the booking reference."""
    def search(prompt):
        day = last_observation(prompt)["date"]
        return call("search_flights", origin="New York", destination="Los Angeles", date=day)

    def book(prompt):
        cheapest = min(last_observation(prompt)["flights"], key=lambda f: f["price_usd"])
        return call("book_flight", flight_id=cheapest["flight_id"], passenger="Alex Kim")

    def answer(prompt):
        b = last_observation(prompt)
        return f"Booked {b['flight_id']} ({b['route']}) on {b['date']}; booking reference {b['pnr']}."

    script = {
        "planner": [plan("First find the date of next Tuesday."),
                    plan("Search flights from New York to Los Angeles on that date."),
                    plan("Book the cheapest flight found."),
                    plan("The booking is confirmed; tell the user.", "Summarizer")],
        "caller": [call("resolve_date", expression="next Tuesday"), search, book],
        "summarizer": [answer],
    }
    query = FLIGHT + " for passenger Alex Kim"
    result, llm = run(registry, script, tmp_path, query=query)  # no tool set: the most relevant are offered
    assert result.status == "solved", result.message
    traj = Trajectory.from_dict(saved(tmp_path))  # the saved record is a complete canonical trajectory
    assert traj.outcome == "solved" and [s.next for s in traj.steps] == ["caller"] * 3 + ["summarizer"]
    assert len(traj.tool_names) <= DEFAULT_K and traj.meta["tools_available"] == len(registry)
    assert {"resolve_date", "search_flights", "book_flight"} <= set(traj.tool_names)
    assert traj.tool_names == [n for n in registry.names if n in traj.tool_names]  # registry order
    flights = json.loads(traj.steps[1].observation)["flights"]
    cheapest = min(flights, key=lambda f: f["price_usd"])
    assert json.loads(traj.steps[1].observation)["date"] == "2024-06-11"  # the Tuesday after 2024-06-05
    booking = registry.world.db.execute("SELECT ref, item_id FROM bookings").fetchall()
    assert booking == [(json.loads(traj.steps[2].observation)["pnr"], cheapest["flight_id"])]
    assert booking[0][0] in result.answer and cheapest["flight_id"] in result.answer
    # Every prompt came from the role modules, with each role's stop strings and token budget.
    instr, tools, steps = traj.instruction, traj.tools, traj.steps
    expected = [("planner", planner.prompt(instr, tools, steps[:k])) for k in range(4)]
    expected += [("caller", caller.prompt(instr, tools, steps[:k], steps[k].rationale)) for k in range(3)]
    expected += [("summarizer", summarizer.prompt(instr, tools, steps))]
    got = [(c.role, c.prompt) for c in llm.calls]
    assert sorted(got) == sorted(expected)
    modules = {"planner": planner, "caller": caller, "summarizer": summarizer}
    assert all(c.stop == modules[c.role].STOP and c.max_new_tokens == modules[c.role].MAX_NEW_TOKENS
               for c in llm.calls)


def test_give_up(registry, tmp_path):
    result, _ = run(registry, {"planner": [plan("No tool can order a pizza.", "Give up")]}, tmp_path,
                    query="Order me a pizza")
    assert (result.status, result.answer) == ("given_up", None)
    traj = Trajectory.from_dict(saved(tmp_path))
    assert traj.outcome == "given_up" and traj.steps[-1].next == "give_up"
    assert traj.meta["status"] == "given_up"


def test_max_steps(registry, tmp_path):
    script = {"planner": [plan("Look up the date.")] * 5,
              "caller": [call("resolve_date", expression="today")] * 5}
    result, llm = run(registry, script, tmp_path, max_steps=3, loop_guard=False)
    assert result.status == "max_steps"
    assert len(result.trajectory.steps) == 3 and len(llm.calls) == 6
    Trajectory.from_dict(saved(tmp_path), check_complete=False)


def test_planner_format_error_is_retried_then_recovers(registry, tmp_path):
    script = {"planner": ["Rationale: Nothing to look up, I can greet", " Summarizer"],
              "summarizer": ["Answer: Hello!"]}
    result, llm = run(registry, script, tmp_path, query="Say hello")
    assert result.status == "solved" and result.answer == "Hello!"
    # the retry keeps the rationale and asks only for the decision, in the trained format
    assert llm.calls[1].prompt == llm.calls[0].prompt + "Rationale: Nothing to look up, I can greet\nNext:"
    assert llm.calls[1].max_new_tokens < llm.calls[0].max_new_tokens
    assert result.trajectory.steps[0].rationale == "Nothing to look up, I can greet"
    errors = result.trajectory.meta["format_errors"]
    assert [(e["role"], e["output"]) for e in errors] == [("planner", "Rationale: Nothing to look up, I can greet")]
    assert "no 'Next:" in errors[0]["error"]


def test_caller_format_error_is_fed_back_to_the_planner(registry, tmp_path):
    script = {"planner": [plan("Resolve next Tuesday."), plan("Try the call again properly."),
                          plan("Done.", "Summarizer")],
              "caller": ["I would call resolve_date", call("resolve_date", expression="next Tuesday")],
              "summarizer": ["It is 2024-06-11."]}
    result, llm = run(registry, script, tmp_path)
    assert result.status == "solved"
    second_plan = [c for c in llm.calls if c.role == "planner"][1].prompt
    assert "caller output has no 'Action: <tool>'" in last_observation(second_plan)["error"]
    traj = Trajectory.from_dict(saved(tmp_path))
    assert [s.rationale for s in traj.steps] == ["Try the call again properly.", "Done."]
    rejected = traj.meta["rejected_calls"]
    assert [(r["index"], r["rationale"], r["output"]) for r in rejected] == [
        (0, "Resolve next Tuesday.", "I would call resolve_date")]


def test_planner_format_error_limit(registry, tmp_path):
    result, llm = run(registry, {"planner": ["hmm"] * 5}, tmp_path, max_format_errors=3)
    assert result.status == "format_error" and len(llm.calls) == 3
    assert "planner wrote 3 unparseable outputs" in result.message
    assert saved(tmp_path)["meta"]["status"] == "format_error"


def test_caller_format_errors_in_a_row_end_the_episode(registry):
    script = {"planner": [plan("Call a tool.")] * 5, "caller": ["no idea"] * 5}
    result, _ = run(registry, script, max_format_errors=2)
    assert result.status == "format_error" and "caller wrote 2" in result.message


def test_unknown_and_hallucinated_tools_are_observations(registry, tmp_path):
    script = {"planner": [plan("Search flights."), plan("Blow it up."), plan("Give up.", "Give up")],
              "caller": [call("find_flights", origin="NYC"), call("explode", reason="x")]}
    result, llm = run(registry, script, tmp_path, toolset="travel")
    assert result.status == "given_up"
    plans = [c.prompt for c in llm.calls if c.role == "planner"]
    assert "unknown tool 'find_flights'; did you mean 'search_flights'" in last_observation(plans[1])["error"]
    # `explode` is registered but not offered in the travel set: rejected, never run.
    assert "unknown tool 'explode'" in last_observation(plans[2])["error"]
    traj = Trajectory.from_dict(saved(tmp_path))
    assert [s.next for s in traj.steps] == ["give_up"]
    assert [r["action"]["name"] for r in traj.meta["rejected_calls"]] == ["find_flights", "explode"]


def test_invalid_json_arguments_are_an_observation(registry):
    script = {"planner": [plan("Search."), plan("Give up.", "Give up")],
              "caller": ['Action: search_flights\nAction Input: {"origin": "New York",']}
    result, llm = run(registry, script)
    assert result.status == "given_up"
    error = last_observation([c for c in llm.calls if c.role == "planner"][1].prompt)["error"]
    assert "Action Input for 'search_flights' is not valid JSON" in error


def test_wrong_arguments_and_tool_exceptions_are_observations(registry):
    script = {"planner": [plan("Search."), plan("Try the other tool."), plan("Done.", "Summarizer")],
              "caller": [call("search_flights", origin="New York"), call("explode", reason="test")],
              "summarizer": ["Nothing worked."]}
    result, _ = run(registry, script, max_tools=None)
    assert result.status == "solved"
    obs = [json.loads(s.observation) for s in result.trajectory.steps[:2]]
    assert "missing required argument(s) 'destination', 'date'" in obs[0]["error"]
    assert obs[1]["error"] == "tool 'explode' failed: RuntimeError: kaboom: test"


def test_tool_timeout_is_an_observation(registry):
    script = {"planner": [plan("Rest."), plan("Done.", "Summarizer")],
              "caller": [call("nap", seconds=5)], "summarizer": ["Rested a little."]}
    start = time.monotonic()
    result, _ = run(registry, script, tool_timeout=0.2, max_tools=None)
    assert time.monotonic() - start < 3
    assert result.status == "solved"
    assert "timed out after 0.2 s" in json.loads(result.trajectory.steps[0].observation)["error"]


def test_token_limit(registry, tmp_path):
    script = {"planner": [plan("Resolve the date."), plan("Again.")],
              "caller": [call("resolve_date", expression="next Tuesday")]}
    # Enough for the first planner and caller turns (each reads the whole prompt), not a second plan.
    budget = 2 * ScriptedLLM.count_tokens(planner.prompt(FLIGHT, registry.schemas(), [])) + 60
    result, llm = run(registry, script, tmp_path, max_tokens=budget, max_tools=None)
    assert result.status == "token_limit" and len(llm.calls) == 3  # the second planner call crossed it
    assert result.trajectory.meta["tokens"] > budget
    assert len(saved(tmp_path)["steps"]) == 1


def test_wall_time_limit(registry, tmp_path):
    script = {"planner": [plan("Rest."), plan("Done.", "Summarizer")], "caller": [call("nap", seconds=5)]}
    start = time.monotonic()
    result, _ = run(registry, script, tmp_path, max_seconds=0.3, tool_timeout=10, max_tools=None)
    assert time.monotonic() - start < 3  # the tool got only the time left, not its own 10 s
    assert result.status == "timeout" and "limit is 0.3 s" in result.message
    assert "timed out" in saved(tmp_path)["steps"][0]["observation"]


def test_trajectory_is_saved_after_every_step(registry, tmp_path):
    path = tmp_path / "traj.json"
    seen = []

    def watch(event):
        if event.kind == "plan":
            seen.append(len(json.loads(path.read_text())["steps"]) if path.exists() else None)

    script = {"planner": [plan("Date first."), plan("Again."), plan("Done.", "Summarizer")],
              "caller": [call("resolve_date", expression="today"), call("resolve_date", expression="tomorrow")],
              "summarizer": ["Today."]}
    agent = Agent(ScriptedLLM(script), registry, save_path=path, on_event=watch)
    agent.run(FLIGHT)
    assert seen == [None, 1, 2]
    assert len(json.loads(path.read_text())["steps"]) == 3


def test_a_crash_still_leaves_the_trajectory_so_far(registry, tmp_path):
    script = {"planner": [plan("Date first.")], "caller": [call("resolve_date", expression="today")]}
    with pytest.raises(RuntimeError, match="ran out of outputs"):
        run(registry, script, tmp_path)
    record = saved(tmp_path)
    assert record["meta"]["status"] == "running" and len(record["steps"]) == 1
    Trajectory.from_dict(record, check_complete=False)


def test_single_mode_runs_the_same_loop_with_one_model(registry, tmp_path):
    outputs = [plan("Resolve the date."), call("resolve_date", expression="next Tuesday"),
               plan("Done.", "Summarizer"), "Next Tuesday is 2024-06-11."]
    result, llm = run(registry, outputs, tmp_path, single_mode=True, toolset="calendar")
    assert result.status == "solved" and result.trajectory.meta["mode"] == "single"
    assert {c.role for c in llm.calls} == {"single"}
    traj = result.trajectory
    assert llm.calls[0].prompt == ROLES["single"].prompt("planner", FLIGHT, traj.tools, [])
    assert llm.calls[1].prompt == ROLES["single"].prompt("caller", FLIGHT, traj.tools, [], "Resolve the date.")
    assert llm.calls[3].prompt == ROLES["single"].prompt("summarizer", FLIGHT, traj.tools, traj.steps)
    assert [c.stop for c in llm.calls] == [planner.STOP, caller.STOP, planner.STOP, summarizer.STOP]


@pytest.mark.parametrize("query, message", [("", "empty"), ("   \n", "empty"),
                                            ("x" * 5000, "5000 characters long")])
def test_bad_queries_are_refused(registry, query, message):
    llm = ScriptedLLM([])
    with pytest.raises(QueryError, match=message):
        Agent(llm, registry).run(query)
    assert llm.calls == []


def test_unknown_toolset_is_refused(registry):
    with pytest.raises(QueryError, match="unknown tool set 'spaceships'"):
        Agent(ScriptedLLM([]), registry).run(FLIGHT, toolset="spaceships")
