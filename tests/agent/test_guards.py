"""What the runtime rules out by construction: grammars handed to the model, tool retrieval, the
loop guard and answer grounding (see `agent.loop`)."""

from __future__ import annotations

import json

from agent_helpers import last_observation

from multiagentllm.agent import Agent, AgentConfig
from multiagentllm.agent.grounding import ungrounded_values
from multiagentllm.models.backends import ScriptedLLM
from multiagentllm.roles.grammar import DECISION, PLANNER, caller_grammar

FLIGHT = "Book me a flight from New York to Los Angeles next Tuesday"


def plan(rationale: str, next_: str = "Caller") -> str:
    return f"Rationale: {rationale}\nNext: {next_}"


def call(name: str, **args) -> str:
    return f"Action: {name}\nAction Input: {json.dumps(args)}"


def run(registry, script, *, query=FLIGHT, llm=None, keep_tools=(), **config):
    llm = llm or ScriptedLLM(script)
    agent = Agent(llm, registry, AgentConfig(**config))
    return agent.run(query, keep_tools=list(keep_tools)), llm


# --- grammars -------------------------------------------------------------------------------------

def test_each_turn_gets_its_grammar(registry):
    script = {"planner": [plan("Resolve the date."), "Rationale: done", " Summarizer"],
              "caller": [call("resolve_date", expression="next Tuesday")],
              "summarizer": ["It is 2024-06-11."]}
    result, llm = run(registry, script, query="What date is next Tuesday?")
    assert result.status == "solved"
    offered = result.trajectory.tools
    grammars = [(c.role, c.constraint) for c in llm.calls]
    assert grammars == [("planner", PLANNER), ("caller", caller_grammar(offered)), ("planner", PLANNER),
                        ("planner", DECISION), ("summarizer", None)]
    assert result.trajectory.meta["constrained"] is True


def test_no_constrain_sends_no_grammar(registry):
    script = {"planner": [plan("Nothing to do.", "Summarizer")], "summarizer": ["Hello."]}
    result, llm = run(registry, script, constrain=False, query="Say hello")
    assert result.status == "solved" and all(c.constraint is None for c in llm.calls)
    assert result.trajectory.meta["constrained"] is False


def test_a_backend_that_cannot_constrain_runs_free_and_says_so(registry):
    class Plain:  # an LLM without `constrains`: never handed a grammar
        def __init__(self):
            self.inner = ScriptedLLM({"planner": [plan("Nothing to do.", "Summarizer")],
                                      "summarizer": ["Hello."]})

        def complete(self, prompts, *, role, max_new_tokens, stop):
            return self.inner.complete(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop)

    result, _ = run(registry, None, llm=Plain(), query="Say hello")
    assert result.status == "solved" and result.trajectory.meta["constrained"] is False


# --- retrieval ------------------------------------------------------------------------------------

def test_retrieval_offers_few_tools_and_keeps_those_already_used(registry):
    script = {"planner": [plan("Nothing to do.", "Summarizer")], "summarizer": ["Hello."]}
    result, _ = run(registry, script, query="What is 17 times 23?", max_tools=3, keep_tools=["get_weather"])
    names = result.trajectory.tool_names
    assert "calculate" in names and "get_weather" in names and len(names) == 3  # kept within k
    result, _ = run(registry, script, query="What is 17 times 23?", max_tools=None)
    assert result.trajectory.tool_names == registry.names


# --- loop guard -----------------------------------------------------------------------------------

def test_a_repeated_call_is_not_run_again_and_the_planner_is_told(registry):
    book = call("search_flights", origin="New York", destination="New York", date="2024-06-11")
    script = {"planner": [plan("Book it."), plan("Book it again."), plan("I give up.", "Give up")],
              "caller": [book, book]}
    result, llm = run(registry, script, max_tools=None)
    assert result.status == "given_up"
    third = [c for c in llm.calls if c.role == "planner"][2].prompt
    error = last_observation(third)["error"]
    assert "already made at step 1" in error and "failed with" in error and "not run again" in error
    traj = result.trajectory
    assert len(traj.calls) == 1 and traj.meta["rejected_calls"][0]["index"] == 1
    assert traj.meta["faults"]["repeated_calls"] == 1 and traj.meta["faults"]["repeated_failing"] == 1


def test_repeating_a_failed_call_again_ends_stuck(registry):
    book = call("search_flights", origin="New York", destination="New York", date="2024-06-11")
    script = {"planner": [plan("Book it.")] * 5, "caller": [book] * 5}
    result, llm = run(registry, script, max_tools=None, max_steps=12)
    assert result.status == "stuck" and "search_flights" in result.message
    assert sum(c.role == "caller" for c in llm.calls) == 3  # not twelve
    assert result.trajectory.meta["faults"]["stuck"] == 1


def test_a_repeat_of_a_successful_call_is_written_again_under_the_other_tools_grammar(registry):
    search = call("search_flights", origin="New York", destination="Los Angeles", date="2024-06-11")

    def book(prompt):
        return call("book_flight", flight_id="AS7484", passenger="Ada Lovelace")

    script = {"planner": [plan("Search."), plan("The cheapest is AS7484."), plan("Done.", "Summarizer")],
              "caller": [search, search, book], "summarizer": [lambda p: "Booked: " + last_observation(p)["pnr"]]}
    result, llm = run(registry, script, query=FLIGHT + " for passenger Ada Lovelace")
    assert result.status == "solved", result.message
    assert [c.name for c in result.trajectory.calls] == ["search_flights", "book_flight"]
    callers = [c for c in llm.calls if c.role == "caller"]
    assert callers[2].prompt == callers[1].prompt  # the same turn, written again
    assert callers[2].constraint == caller_grammar([t for t in result.trajectory.tools
                                                    if t["name"] != "search_flights"])
    assert result.trajectory.meta["repeated_calls"][0]["redirected"] is True
    assert result.trajectory.meta["faults"]["repeated_calls"] == 1


def test_repeating_a_successful_call_again_answers_from_what_was_observed(registry):
    date = call("resolve_date", expression="next Tuesday")
    script = {"planner": [plan("Find the date.")] * 3, "caller": [date] * 3,
              "summarizer": ["Next Tuesday is 2024-06-11."]}
    result, llm = run(registry, script, constrain=False)  # unconstrained: the guard alone
    assert result.status == "solved" and result.answer == "Next Tuesday is 2024-06-11."
    assert result.trajectory.steps[-1].next == "summarizer"
    assert result.trajectory.meta["repeated_calls"][-1]["ended"] is True


def test_without_the_guard_repeats_run(registry):
    date = call("resolve_date", expression="today")
    script = {"planner": [plan("Date.")] * 3, "caller": [date] * 3}
    result, _ = run(registry, script, loop_guard=False, max_steps=3)
    assert result.status == "max_steps" and len(result.trajectory.calls) == 3
    assert result.trajectory.meta["faults"]["repeated_calls"] == 2


# --- grounding ------------------------------------------------------------------------------------

def test_an_answer_with_an_invented_code_ends_ungrounded(registry):
    script = {"planner": [plan("Search hotels."), plan("Done.", "Summarizer")],
              "caller": [call("search_hotels", city="Los Angeles", check_in="2024-06-11", nights=1)],
              "summarizer": ["Booked. Confirmation code: CR-2024-06-05."]}
    result, _ = run(registry, script, max_tools=None)
    assert result.status == "ungrounded"
    assert "CR-2024-06-05" in result.message
    assert "says 'booked', 'confirmation code' but no tool did that" in result.message
    assert result.trajectory.meta["ungrounded"] == ["CR-2024-06-05", "'booked'", "'confirmation code'"]
    assert result.trajectory.meta["faults"]["ungrounded"] == 1


def test_grounded_answers_pass(registry):
    script = {"planner": [plan("Multiply."), plan("Done.", "Summarizer")],
              "caller": [call("calculate", expression="17 * 23")],
              "summarizer": ["17 times 23 is 391."]}
    result, _ = run(registry, script, query="What is 17 times 23?")
    assert result.status == "solved", result.message


def test_grounding_off_lets_any_answer_through(registry):
    script = {"planner": [plan("Done.", "Summarizer")], "summarizer": ["Your code is ZX-9981."]}
    assert run(registry, script, query="hi", ground_answers=False)[0].status == "solved"
    assert run(registry, script | {"planner": [plan("Done.", "Summarizer")],
                                    "summarizer": ["Your code is ZX-9981."]}, query="hi")[0].status == "ungrounded"


def test_ungrounded_values():
    evidence = ['{"pnr": "K7QX2M", "flight_id": "UA1234", "price_usd": 189.5, "date": "2024-06-11"}',
                "Book me a flight for 2 people"]
    assert ungrounded_values("Booked UA1234, reference K7QX2M, $189.50 on 2024-06-11 for 2.", evidence) == []
    assert ungrounded_values("Reference ab12cd, total 1,234 USD, on 2023-06-11.", evidence) == [
        "ab12cd", "1,234", "2023"]
    assert ungrounded_values("It leaves on the 11th, 1 seat.", evidence) == []


def test_a_claimed_booking_that_did_not_happen_is_caught(registry):
    script = {"planner": [plan("Search."), plan("Done.", "Summarizer")],
              "caller": [call("search_flights", origin="New York", destination="Los Angeles", date="2024-06-11")],
              "summarizer": ["Booked flight AS7484 for you."]}
    result, _ = run(registry, script)
    assert result.status == "ungrounded" and "'booked'" in result.message
    script["summarizer"] = ["I found flights but have not booked any yet; the cheapest is AS7484."]
    script["planner"] = [plan("Search."), plan("Done.", "Summarizer")]
    script["caller"] = [call("search_flights", origin="New York", destination="Los Angeles", date="2024-06-11")]
    assert run(registry, script)[0].status == "solved"


def test_an_invented_passenger_is_not_booked_the_user_is_asked(registry):
    """The seed's request names no passenger: a made-up one must never be booked."""
    def search(prompt):
        return call("search_flights", origin="New York", destination="Los Angeles", date="2024-06-11")

    def book(prompt):
        flight = last_observation(prompt)["flights"][0]["flight_id"]
        return call("book_flight", flight_id=flight, passenger="John Doe")

    script = {"planner": [plan("Search."), plan("Book the cheapest.")], "caller": [search, book]}
    result, _ = run(registry, script)
    assert result.status == "needs_input"
    assert "passenger" in result.answer and "Please tell me" in result.answer
    assert "search_flights returned" in result.answer and "flight_id" in result.answer  # the flights found
    assert registry.world.db.execute("SELECT COUNT(*) FROM bookings").fetchone()[0] == 0
    # Named in the request, the same passenger is booked.
    script = {"planner": [plan("Search."), plan("Book the cheapest.")], "caller": [search, book]}
    result, _ = run(registry.fresh(), script, query=FLIGHT + " for passenger John Doe", max_steps=2)
    assert result.status == "max_steps" and json.loads(result.trajectory.steps[1].observation)["pnr"]


def test_no_answer_while_a_requested_booking_has_not_happened(registry):
    from multiagentllm.roles.grammar import planner_grammar

    def search(prompt):
        return call("search_flights", origin="New York", destination="Los Angeles", date="2024-06-11")

    def book(prompt):
        return call("book_flight", flight_id=last_observation(prompt)["flights"][0]["flight_id"],
                    passenger="Ada Lovelace")

    script = {"planner": [plan("Search."), plan("Book."), plan("Done.", "Summarizer")],
              "caller": [search, book], "summarizer": [lambda p: "Booked; reference " + last_observation(p)["pnr"]]}
    result, llm = run(registry, script, query=FLIGHT + " for passenger Ada Lovelace")
    assert result.status == "solved", result.message
    plans = [c.constraint for c in llm.calls if c.role == "planner"]
    assert plans == [planner_grammar(False), planner_grammar(False), planner_grammar(True)]


def test_pending_actions_and_claims():
    from multiagentllm.agent.grounding import pending_actions, unbacked_claims

    offered = ["search_flights", "book_flight", "get_booking", "cancel_booking"]
    assert pending_actions("Book me a flight to Paris", offered, []) == ["book"]
    assert pending_actions("Book me a flight to Paris", offered, ["get_booking"]) == ["book"]  # a lookup books nothing
    assert pending_actions("Book me a flight to Paris", offered, ["book_flight"]) == []
    assert pending_actions("Find flights but do not book anything", offered, []) == []
    assert pending_actions("What is the status of my booking?", offered, []) == []
    assert pending_actions("Book a table", ["search_flights"], []) == []  # no tool can: the planner may answer
    assert unbacked_claims("I have not booked anything yet.", []) == []
    assert unbacked_claims("Booked! Your booking reference is X1.", ["search_flights"]) == ["booked", "booking reference"]
    assert unbacked_claims("Booked! Your booking reference is X1.", ["book_flight"]) == []


def test_single_mode_decodes_each_turn_under_the_same_grammars(registry):
    script = ["Rationale: Resolve the date.\nNext: Caller", call("resolve_date", expression="next Tuesday"),
              plan("Done.", "Summarizer"), "It is 2024-06-11."]
    llm = ScriptedLLM(script)
    result = Agent(llm, registry, AgentConfig(), single_mode=True).run("What date is next Tuesday?")
    assert result.status == "solved"
    assert [c.role for c in llm.calls] == ["single"] * 4
    assert [c.constraint for c in llm.calls] == [PLANNER, caller_grammar(result.trajectory.tools), PLANNER, None]
