"""The alpha-UMi loop: planner -> (caller -> tool -> observation)* -> summarizer | give up.

One small class. `run()` loops `step()`; every way an episode ends is an `EpisodeEnd` exception
carrying its status; the trajectory is saved in a `finally` after every step, so a crash, a limit
or Ctrl-C still leaves the episode on disk.

Prompts come only from `multiagentllm.roles` (the same functions the training builders use), each
turn with its own stop strings and token budget (`roles.registry`). In single-LLM mode one model (role
`single`) writes every turn with the single-LLM prompt; the loop is the same.

How errors reach the models, staying inside the trained text format:
- A tool failure (bad arguments, an exception, a timeout) is the call's observation,
  `{"error": ...}`, as the registry returns it; the planner reads it on its next turn.
- A caller output that does not parse, or that names a tool that is not offered, becomes a
  *rejected call*: the models see `Action: <what it wrote>` followed by an error observation, so
  the planner can re-plan. Rejected calls are kept out of the canonical `steps` (whose actions
  must name offered tools) and recorded in `meta["rejected_calls"]` with their index in the
  history, so the exact prompts can be rebuilt.
- A planner or summarizer output that does not parse has no place in the trained format for an
  error. A planner output without a decision is retried by keeping its first line as the
  rationale and asking only for the decision (the prompt ends with `Rationale: ...\nNext:`);
  a summarizer output is retried with the same prompt. Each role may fail `max_format_errors` times in a
  row before the episode ends with status `format_error` (a greedy model that repeats itself
  reaches that limit quickly instead of looping).

What the runtime rules out by construction (each one a config switch, for ablations):
- `constrain`: the planner and the caller decode under their grammars (`roles.grammar`): a
  planner turn always ends in a decision, a call always names an offered tool with arguments
  valid for its schema. Backends that cannot constrain (`constrains` is false) decode freely.
- `max_tools`: with more tools than the trained prompt size, a retriever
  (`tools.retrieval`) offers the `max_tools` most relevant to the request, plus `keep_tools`.
- `loop_guard`: a call identical to an earlier one (tool and arguments) is not run again; the
  planner sees that it was made and what it returned. Repeating it once more ends the episode:
  with an answer from what was observed when a call succeeded, else as `stuck`.
- `ground_answers`: an answer stating references, codes, ids or numbers that neither the request
  nor any observation holds, or claiming an action ("booked") that no tool did, ends the episode
  as `ungrounded`, naming them; a call whose identity argument (a passenger, an id) was made up is
  not run, and the episode ends `needs_input` with a question to the user instead.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.agent.exits import (
    EpisodeEnd, FormatLimit, GivenUp, NeedsInput, QueryError, Solved, StepLimit, Stuck, TimeLimit,
    TokenLimit, Ungrounded,
)
from multiagentllm.agent import faults
from multiagentllm.agent.grounding import (
    invented_arguments, pending_actions, unbacked_claims, ungrounded_values,
)
from multiagentllm.io import write_json
from multiagentllm.roles import FormatError, caller, planner, registry, summarizer
from multiagentllm.roles.render import truncate_observation
from multiagentllm.roles.grammar import Grammar, caller_grammar, decision_grammar, planner_grammar
from multiagentllm.tools.retrieval import DEFAULT_K, retrieve
from multiagentllm.types import LLM, Step, ToolCall, Trajectory, normalize_tool

_ACTION_NAME = re.compile(r"Action\s*:\s*([^\n]*)", re.I)


DECISION_TOKENS = 6  # enough for " Caller", " Summarizer" or " Give up"


def _first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of a model output, without a leading "Rationale:" label."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(Rationale|Thought)\s*\d*\s*:\s*", "", line, flags=re.I).strip()
        if line:
            return line[:limit]
    return ""


@dataclass
class AgentConfig:
    max_steps: int = 12  # planner turns, rejected calls included
    max_format_errors: int = 3  # consecutive unparseable outputs of one role
    max_tokens: int | None = 100_000  # prompt + generated tokens over the whole episode
    max_seconds: float | None = 600.0  # wall time of the episode
    tool_timeout: float = 10.0
    max_query_chars: int = 4000
    constrain: bool = True  # grammar-constrained planner and caller turns
    max_tools: int | None = DEFAULT_K  # tools offered (retrieved) when more are available; None: all
    loop_guard: bool = True  # never re-run an identical call
    ground_answers: bool = True  # an answer with values no observation holds ends `ungrounded`


SAFEGUARDS = ("constrain", "max_tools", "loop_guard", "ground_answers")  # the `AgentConfig` switches


def safeguards(*, no_constrain: bool = False, no_retrieval: bool = False, no_guard: bool = False,
               no_grounding: bool = False, max_tools: int | None = None) -> dict[str, Any]:
    """The `SAFEGUARDS` settings the command-line switches describe (`--no-constrain`, ...)."""
    return {"constrain": not no_constrain, "max_tools": None if no_retrieval else (max_tools or DEFAULT_K),
            "loop_guard": not no_guard, "ground_answers": not no_grounding}


@dataclass
class Event:
    """Something the user may want to watch live: kind is plan, call, observation, answer,
    format_error or end."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    status: str
    message: str
    trajectory: Trajectory

    @property
    def answer(self) -> str | None:
        return self.trajectory.answer


def _call_key(call: ToolCall) -> str:
    return faults.call_key(call.name, call.arguments)


def _args(call: ToolCall) -> str:
    return json.dumps(call.arguments, ensure_ascii=False)


def approx_tokens(text: str) -> int:
    """Fallback token count for an LLM that cannot count (about 4 characters per token)."""
    return (len(text) + 3) // 4


def check_query(query: str, max_chars: int) -> str:
    """The stripped query, or a QueryError a user can act on."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty; say what you want done, e.g. "
                         "\"Book me a flight from New York to Los Angeles next Tuesday\"")
    query = query.strip()
    if len(query) > max_chars:
        raise QueryError(f"the query is {len(query)} characters long; the limit is {max_chars}")
    return query


class Agent:
    """Runs one episode at a time with `llm` (any `LLM`) and `tools` (a tool registry: `schemas`,
    `call`, `toolset`)."""

    def __init__(self, llm: LLM, tools: Any, config: AgentConfig | None = None, *,
                 single_mode: bool = False, save_path: str | Path | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 count_tokens: Callable[[str], int] | None = None):
        self.llm, self.tools = llm, tools
        self.config = config or AgentConfig()
        self.single_mode = single_mode
        self.save_path = Path(save_path) if save_path else None
        self.on_event = on_event
        self.count_tokens = count_tokens or getattr(llm, "count_tokens", None) or approx_tokens

    # --- the episode --------------------------------------------------------------------------

    def run(self, query: str, *, toolset: str | None = None, episode_id: str | None = None,
            keep_tools: list[str] = ()) -> Result:
        """Run one episode on `query`, offering the tools of `toolset` (all tools when None; the
        `max_tools` most relevant when there are more, always with `keep_tools`)."""
        self._start(query, toolset, episode_id, keep_tools)
        try:
            while True:
                self.step()
        except EpisodeEnd as end:
            self.status, self.message = end.status, end.message
        finally:
            self.save()
        self._emit("end", self.message, status=self.status)
        return Result(self.status, self.message, self.trajectory())

    def step(self) -> None:
        """One planner turn and what it decides: a call and its observation, the answer, or the end."""
        try:
            if len(self.history) >= self.config.max_steps:
                raise StepLimit(f"no answer after {self.config.max_steps} steps")
            rationale, next_ = self._plan()
            if next_ == "caller":
                self._act(rationale)
                return
            self._finish(rationale, next_)
        finally:
            self.save()

    def _finish(self, rationale: str, next_: str) -> None:
        self.history.append(Step(rationale, next_))
        if next_ == "give_up":
            raise GivenUp(rationale or "the planner gave up")
        self.answer = self._summarize()
        if self.config.ground_answers:
            values = ungrounded_values(self.answer, self._evidence())
            claims = [f"'{c}'" for c in unbacked_claims(self.answer, self._succeeded())]
            self.ungrounded = values + claims
            if self.ungrounded:
                self._emit("ungrounded", ", ".join(self.ungrounded), values=self.ungrounded)
                said = ["states values no tool returned: " + ", ".join(values)] if values else []
                said += ["says " + ", ".join(claims) + " but no tool did that"] if claims else []
                raise Ungrounded("the answer " + "; and ".join(said))
        raise Solved("answered")

    def _succeeded(self) -> list[str]:
        """Names of the tools whose calls succeeded in this episode."""
        return [self.history[i].action.name for i, ok in self.made.values() if ok]

    def _evidence(self) -> list[str]:
        """What an answer may rest on: the request and every observation of the episode."""
        return [self.instruction, *(s.observation for s in self.history if s.observation)]

    # --- the three roles ----------------------------------------------------------------------

    def _plan(self) -> tuple[str, str]:
        prompt = self._prompt("planner")
        # With grounding on, no answer while a requested action has not happened.
        answer = not (self.config.ground_answers
                      and pending_actions(self.instruction, self.tool_names, self._succeeded()))
        out = self._query("planner", prompt, grammar=planner_grammar(answer))
        while True:
            try:
                rationale, next_ = planner.parse(out)
            except FormatError as e:
                self._format_error("planner", out, e)
                # Greedy decoding would repeat the same output for the same prompt, so the retry
                # keeps the model's rationale and asks only for the decision, still in the
                # trained format: the prompt ends with "Rationale: ...\nNext:".
                rationale = _first_line(out)
                decision = self._query("planner", f"{prompt}Rationale: {rationale}\nNext:",
                                       max_new_tokens=DECISION_TOKENS, grammar=decision_grammar(answer))
                out = f"Rationale: {rationale}\nNext:{decision}"
                continue
            self.format_errors["planner"] = 0
            self._emit("plan", rationale, next=next_)
            return rationale, next_

    def _act(self, rationale: str) -> None:
        prompt = self._prompt("caller", rationale)
        out = self._query("caller", prompt, grammar=caller_grammar(self.tool_schemas))
        self.caller_outputs.append(out)
        out = self._redirect(prompt, out)
        try:
            call = caller.parse(out)
        except FormatError as e:
            self._format_error("caller", out, e)
            found = _ACTION_NAME.search(out)
            self._reject(rationale, ToolCall(found.group(1).strip() if found else "", {}), out, str(e))
            return
        self.format_errors["caller"] = 0
        offered = self.tool_names
        if call.name not in offered:
            close = difflib.get_close_matches(call.name, offered, n=3, cutoff=0.5)
            reason = [f"unknown tool {call.name!r}", f"available tools: {', '.join(offered)}"]
            if close:
                reason.insert(1, f"did you mean {', '.join(map(repr, close))}?")
            self._reject(rationale, call, out, "; ".join(reason))
            return
        if self.config.loop_guard and self._repeated(rationale, call, out):
            return
        if self.config.ground_answers:
            self._check_arguments(rationale, call, out)
        step = Step(rationale, "caller", call)
        self.history.append(step)
        self._emit("call", f"{call.name} {_args(call)}",
                   name=call.name, arguments=call.arguments)
        timeout = self.config.tool_timeout
        if self.config.max_seconds is not None:
            timeout = max(0.01, min(timeout, self.config.max_seconds - self.elapsed))
        obs = self.tools.call(call.name, call.arguments, timeout=timeout)
        step.observation = obs.content
        self.made[_call_key(call)] = (len(self.history) - 1, obs.ok)
        self.calls_log.append((call.name, call.arguments, obs.ok))
        self._emit("observation", obs.content, ok=obs.ok)
        self._check_time()

    def _redirect(self, prompt: str, out: str) -> str:
        """The loop guard inside the grammar: a call that repeats one which succeeded is not a
        valid output, so the caller writes again, under the grammar of the other tools (the same
        tool with other arguments is what the model would have written in the first place). A
        repeat of a call that failed goes to the planner instead (see `_repeated`): the fix may
        be the same tool with other arguments."""
        if not (self.config.loop_guard and self.config.constrain and getattr(self.llm, "constrains", False)):
            return out
        try:
            call = caller.parse(out)
        except FormatError:
            return out
        earlier = self.made.get(_call_key(call))
        others = [t for t in self.tool_schemas if t["name"] != call.name]
        if earlier is None or not earlier[1] or not others:
            return out
        self.guard_log.append({"step": len(self.history), "name": call.name, "earlier_ok": True,
                               "redirected": True})
        self.calls_log.append((call.name, call.arguments, True))
        self._emit("guard", f"{call.name} {_args(call)} was already made; the caller picks another tool")
        again = self._query("caller", prompt, grammar=caller_grammar(others))
        self.caller_outputs.append(again)
        return again

    def _check_arguments(self, rationale: str, call: ToolCall, output: str) -> None:
        """End the episode with a question when the call's identity arguments were made up."""
        schema = next(t for t in self.tool_schemas if t["name"] == call.name)
        invented = invented_arguments(call.arguments, schema, self._evidence())
        if not invented:
            return
        props = schema["parameters"].get("properties") or {}
        wanted = ", ".join(f"the {n}" + (f" ({props[n]['description'].rstrip('.')})" if props[n].get("description") else "")
                           for n in invented)
        self._reject(rationale, call, output, f"{', '.join(map(repr, invented))}: not given by the user or any tool")
        found = [s for s in self.history if s.observation and self.made.get(_call_key(s.action), (0, False))[1]]
        so_far = (f" So far, {found[-1].action.name} returned: {truncate_observation(found[-1].observation, 600)}"
                  if found else "")
        self.answer = (f"To {call.name.replace('_', ' ')} I need {wanted}, and your request does not say it. "
                       f"Please tell me.{so_far}")
        self._emit("answer", self.answer)
        raise NeedsInput(f"{call.name} needs {', '.join(invented)}, which no one gave; asked the user")

    def _repeated(self, rationale: str, call: ToolCall, output: str) -> bool:
        """The loop guard: True when `call` was made before and must not run again."""
        key = _call_key(call)
        if key not in self.made:
            return False
        index, ok = self.made[key]
        self.calls_log.append((call.name, call.arguments, ok))
        self.repeats[key] = self.repeats.get(key, 0) + 1
        self.guard_log.append({"step": len(self.history), "name": call.name, "earlier_ok": ok})
        if self.repeats[key] >= 2:
            self.guard_log[-1]["ended"] = True
            if any(ok for _, ok in self.made.values()):
                self._emit("guard", f"{call.name} was repeated again; answering from what was observed")
                self._finish("The same call was made again; answer from what the tools returned.",
                             "summarizer")
            raise Stuck(f"the caller repeated {call.name} {_args(call)} although it had already "
                        f"{'returned' if ok else 'failed'} at step {index + 1}")
        earlier = truncate_observation(self.history[index].observation or "", 300)
        verb = "returned" if ok else "failed with"
        self._reject(rationale, call, output,
                     f"this exact call was already made at step {index + 1} and {verb}: {earlier}; "
                     "it was not run again: use that result, or call with other arguments")
        return True

    def _summarize(self) -> str:
        while True:
            out = self._query("summarizer", self._prompt("summarizer"))
            try:
                answer = summarizer.parse(out)
            except FormatError as e:
                self._format_error("summarizer", out, e)
                continue
            self._emit("answer", answer)
            return answer

    # --- helpers ------------------------------------------------------------------------------

    def _prompt(self, role: str, rationale: str | None = None) -> str:
        return registry.prompt(role, self.instruction, self.tool_schemas, self.history, rationale,
                               single=self.single_mode)

    def _query(self, role: str, prompt: str, max_new_tokens: int | None = None,
               grammar: Grammar | None = None) -> str:
        self._check_time()
        extra = {}
        if grammar is not None and self.config.constrain:
            if getattr(self.llm, "constrains", False):
                extra["constraint"] = grammar
            else:
                self.unconstrained = True
        out = self.llm.complete([prompt], role=registry.model_role(role, self.single_mode),
                                max_new_tokens=max_new_tokens or registry.max_new_tokens(role),
                                stop=registry.stop(role), **extra)[0]
        self.tokens += self.count_tokens(prompt) + self.count_tokens(out)
        if self.config.max_tokens is not None and self.tokens > self.config.max_tokens:
            raise TokenLimit(f"used {self.tokens} tokens; the limit is {self.config.max_tokens}")
        self._check_time()
        return out

    def _format_error(self, role: str, output: str, error: FormatError) -> None:
        self.format_errors[role] += 1
        self.errors.append({"step": len(self.history), "role": role, "output": output,
                            "error": str(error)})
        self._emit("format_error", str(error), role=role, output=output)
        if self.format_errors[role] >= self.config.max_format_errors:
            raise FormatLimit(f"the {role} wrote {self.format_errors[role]} unparseable outputs in a "
                              f"row; last: {error}")

    def _reject(self, rationale: str, call: ToolCall, output: str, reason: str) -> None:
        observation = json.dumps({"error": reason}, ensure_ascii=False)
        self.rejected[len(self.history)] = {"output": output, "error": reason}
        self.history.append(Step(rationale, "caller", call, observation))
        self._emit("observation", observation, ok=False, rejected=True)

    def _check_time(self) -> None:
        if self.config.max_seconds is not None and self.elapsed > self.config.max_seconds:
            raise TimeLimit(f"ran {self.elapsed:.1f} s; the limit is {self.config.max_seconds:g} s")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _emit(self, kind: str, text: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(Event(kind, text, data))

    def _start(self, query: str, toolset: str | None, episode_id: str | None,
               keep_tools: list[str] = ()) -> None:
        self.instruction = check_query(query, self.config.max_query_chars)
        try:
            names = self.tools.toolset(toolset) if toolset else None
        except KeyError as e:
            raise QueryError(str(e.args[0]) if e.args else f"unknown tool set {toolset!r}") from None
        available = [normalize_tool(s) for s in self.tools.schemas(names)]
        self.tool_schemas = retrieve(available, self.instruction, self.config.max_tools, keep=keep_tools)
        self.tools_available = len(available)
        self.tool_names = [s["name"] for s in self.tool_schemas]
        self.toolset = toolset or "all"
        self.id = episode_id or f"run-{uuid.uuid4().hex[:12]}"
        self.history: list[Step] = []
        self.rejected: dict[int, dict[str, str]] = {}
        self.errors: list[dict[str, Any]] = []
        self.format_errors = dict.fromkeys(registry.TRIO, 0)
        self.answer: str | None = None
        self.made: dict[str, tuple[int, bool]] = {}  # call key -> (history index, ok)
        self.repeats: dict[str, int] = {}
        self.guard_log: list[dict[str, Any]] = []
        self.caller_outputs: list[str] = []
        self.calls_log: list[tuple[str, dict[str, Any], bool]] = []  # every call asked for, run or not
        self.ungrounded: list[str] = []
        self.unconstrained = False  # a grammar was asked for but the backend cannot apply it
        self.tokens = 0
        self.status, self.message = "running", ""
        self.started = time.monotonic()

    # --- the record ---------------------------------------------------------------------------

    def trajectory(self) -> Trajectory:
        """The episode so far in the canonical schema (rejected calls in `meta`)."""
        steps = [s for i, s in enumerate(self.history) if i not in self.rejected]
        rejected = [{"index": i, **self.history[i].to_dict(), **info}
                    for i, info in sorted(self.rejected.items())]
        meta = {"status": self.status, "message": self.message,
                "mode": "single" if self.single_mode else "alpha-umi", "toolset": self.toolset,
                "steps_taken": len(self.history), "tokens": self.tokens,
                "seconds": round(self.elapsed, 3), "rejected_calls": rejected,
                "format_errors": self.errors, "tools_available": self.tools_available,
                "constrained": self.config.constrain and not self.unconstrained,
                "repeated_calls": self.guard_log, "ungrounded": self.ungrounded,
                "faults": self.faults()}
        return Trajectory(id=self.id, instruction=self.instruction, tools=self.tool_schemas,
                          steps=steps, answer=self.answer,
                          outcome="solved" if self.status == "solved" else "given_up",
                          source="agent", meta=meta)

    def faults(self) -> dict[str, int]:
        """Form faults of this episode's calls and how it ended (see `agent.faults`)."""
        counts = faults.count_calls(self.caller_outputs, self.tool_schemas)
        counts.update(faults.repeats(self.calls_log))
        counts["stuck"] = int(self.status == "stuck")
        counts["ungrounded"] = int(self.status == "ungrounded")
        return faults.total([counts])

    def save(self) -> None:
        """Validate and atomically write the trajectory JSON (when a save path was given)."""
        if self.save_path is None:
            return
        traj = self.trajectory()
        traj.validate(check_complete=self.status in ("solved", "given_up"))
        write_json(self.save_path, traj.to_dict())
