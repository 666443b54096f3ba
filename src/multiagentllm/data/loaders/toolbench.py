"""ToolBench: DFSDT answer trees, ToolEval's ChatGPT CoT answers, and query files.

**DFSDT answers** (`data_example/answer/G*_answer/*.json`, one episode per file).
`answer_generation.train_messages` is ToolBench's training view of the search: a list of
message lists, one per assistant turn of the *final* chain, each a prefix of the last one (apart
from where DFSDT's "This is not the first time you try this task..." restart prompts sit).  The
last list is therefore the whole chain and becomes the trajectory:

* an assistant turn's `content` is the rationale and its `function_call` the action, the next
  `function` turn the observation (ToolBench's `{"error", "response"}` JSON, kept whole: the error
  text is what the planner has to react to);
* an assistant turn with only a thought followed by one with only the call is one step;
* `Finish` with `give_answer` is the summarizer step (answer = `final_answer`), with
  `give_up_and_restart` a give-up step;
* restart prompts are dropped (our trajectory has no place for them); their number is kept in
  `meta["restart_prompts"]`, because the thoughts after them may mention attempts from pruned
  branches that the trajectory does not show -- filter on it if that matters;
* ChatGPT often calls a function without a thought.  The planner still needs a rationale to
  learn from, so an empty one is derived from the call ("Call X: <what X does>.", see
  `derived_rationale`) and counted in `meta["derived_rationales"]`.

Failed branches live only in `tree` (no chain is recorded for them), so they are not turned into
variants.  A file whose search found no answer (`valid_data` false, no `train_messages`) yields
nothing.  Tools are `answer_generation.function` without `Finish`, names as ToolBench has them.

**ToolEval CoT answers** (`toolbench/tooleval/results/default_evalset/*_CoT/G*.json`): a dict
`query_id -> {query, available_tools, answer}`; `answer.answer_details` is the chain as nested
`{role, message, next}` nodes, a tool node's message being the Python repr of `{name, arguments,
response}`.  In the files ToolBench ships every tool message is cut to ~100-200 characters, so
the observations are lost: a record becomes a `Trajectory` only where all its tool messages are
intact (a copy that has them), and always a `CallItem` (instruction, tools, `calls=[]`) with the
ChatGPT CoT answer in `meta["reference"]` -- the reference ToolEval compares against.

**Query files** (`data_example/instruction/G*_query.json`): same format as StableToolBench's,
see `stabletoolbench.load_queries`.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec
from multiagentllm.data.loaders import stabletoolbench
from multiagentllm.data.loaders.jsonfiles import read_json
from multiagentllm.io import DataError, SkipReport
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory, normalize_tool

FINISH = "Finish"
RESTART_PROMPT = "This is not the first time you try this task"


def derived_rationale(call: ToolCall, tool: dict[str, Any] | None) -> str:
    """A short, honest rationale for a call the source gave no thought for: what is called and
    what the tool does (its description's first sentence), or which arguments it gets."""
    what = ""
    if tool and tool.get("description"):
        first_line = next((ln for ln in tool["description"].splitlines() if ln.strip()), "")
        what = re.split(r"(?<=[.!?])\s", " ".join(first_line.split()), maxsplit=1)[0].rstrip(".")
        what = what if len(what) <= 120 else what[:119].rstrip() + "…"
    if what:
        return f"Call {call.name}: {what}."
    if call.arguments:
        return f"Call {call.name} with {', '.join(call.arguments)}."
    return f"Call {call.name}."


FINISH_RATIONALE = {
    "summarizer": "The results so far are enough to answer the request.",
    "give_up": "The calls so far have not solved the task; give up.",
}


def tools_from_functions(functions: Any, where: str) -> list[dict[str, Any]]:
    """ToolBench function definitions (OpenAI schema) without `Finish`, descriptions compacted;
    an exact duplicate is dropped, two different definitions with one name are an error."""
    if not isinstance(functions, list):
        raise ValueError(f"{where} must be a list of function definitions")
    tools: dict[str, dict[str, Any]] = {}
    for i, fn in enumerate(functions):
        try:
            tool = normalize_tool(fn, where=f"{where}[{i}]")
        except SchemaError as e:
            raise ValueError(str(e)) from None
        if tool["name"] == FINISH:
            continue
        tool["description"] = stabletoolbench.compact_description(tool["description"])
        if tool["name"] in tools and tools[tool["name"]] != tool:
            raise ValueError(f"{where}: two different definitions of {tool['name']!r}")
        tools[tool["name"]] = tool
    return list(tools.values())


@dataclass
class Episode:
    """A chain of chat messages read into planner steps (what `Trajectory` needs, plus counts)."""

    instruction: str = ""
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    restart_prompts: int = 0
    derived_rationales: int = 0

    @property
    def outcome(self) -> str:
        return "given_up" if self.steps and self.steps[-1].next == "give_up" else "solved"


def parse_arguments(raw: Any, what: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{what}: arguments must be a JSON string or object")
    try:
        args = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: arguments are not valid JSON ({e.msg})") from None
    if not isinstance(args, dict):
        raise ValueError(f"{what}: arguments must be a JSON object, got {type(args).__name__}")
    return args


def episode_from_messages(messages: Any, tools: list[dict[str, Any]], where: str = "messages") -> Episode:
    """Read an OpenAI-style chain (system / user / assistant with `function_call` / function)
    into steps; raises ValueError naming the message that breaks the chain."""
    if not isinstance(messages, list):
        raise ValueError(f"{where} must be a list of messages")
    by_name = {t["name"]: t for t in tools}
    ep = Episode()
    thought: list[str] = []  # thoughts of assistant turns that made no call yet
    i = 0
    while i < len(messages):
        m, at = messages[i], f"{where}[{i}]"
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"{at} must be an object with a 'role'")
        if ep.steps and ep.steps[-1].next != "caller":
            raise ValueError(f"{at}: a message follows the Finish call")
        role, content = m["role"], (m.get("content") or "")
        if not isinstance(content, str):
            raise ValueError(f"{at}.content must be a string")
        if role == "system":
            pass
        elif role == "user":
            if not ep.instruction:
                ep.instruction = re.sub(r"\s*Begin!\s*$", "", content).strip()
            elif content.startswith(RESTART_PROMPT) or m.get("valid") is False:
                ep.restart_prompts += 1
            else:
                raise ValueError(f"{at}: a second user request in one episode")
        elif role == "assistant":
            if content.strip():
                thought.append(content.strip())
            call = m.get("function_call")
            if call is None:
                i += 1
                continue
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise ValueError(f"{at}.function_call must be an object with a string 'name'")
            args = parse_arguments(call.get("arguments", "{}"), f"{at}.function_call")
            rationale = "\n".join(thought)
            thought = []
            if call["name"] == FINISH:
                ep.steps.append(_finish_step(ep, args, rationale, at))
            else:
                if call["name"] not in by_name:
                    raise ValueError(f"{at}: calls {call['name']!r}, which is not in the tool list")
                action = ToolCall(call["name"], args)
                if not rationale:
                    rationale = derived_rationale(action, by_name[call["name"]])
                    ep.derived_rationales += 1
                obs = messages[i + 1] if i + 1 < len(messages) else None
                if not (isinstance(obs, dict) and obs.get("role") == "function"):
                    raise ValueError(f"{at}: the call to {call['name']!r} has no function result after it")
                if obs.get("name") not in (None, call["name"]):
                    raise ValueError(f"{where}[{i + 1}]: result of {obs.get('name')!r}, expected {call['name']!r}")
                ep.steps.append(Step(rationale, "caller", action, _text(obs.get("content"))))
                i += 1
        elif role == "function":
            raise ValueError(f"{at}: a function result without a call before it")
        else:
            raise ValueError(f"{at}: unknown role {role!r}")
        i += 1
    if not ep.instruction:
        raise ValueError(f"{where}: no user message with the request")
    if thought or not ep.steps or ep.steps[-1].next == "caller":
        raise ValueError(f"{where}: the chain does not end with a Finish call")
    return ep


def _finish_step(ep: Episode, args: dict[str, Any], rationale: str, at: str) -> Step:
    kind = args.get("return_type")
    if kind == "give_answer":
        answer = args.get("final_answer")
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"{at}: Finish(give_answer) without a final_answer")
        ep.answer, next_ = answer.strip(), "summarizer"
    elif kind == "give_up_and_restart":
        next_ = "give_up"
    else:
        raise ValueError(f"{at}: Finish has unknown return_type {kind!r}")
    if not rationale:
        ep.derived_rationales += 1
    return Step(rationale or FINISH_RATIONALE[next_], next_)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def trajectory(ep: Episode, *, id: str, source: str, tools: list[dict[str, Any]],
               meta: dict[str, Any]) -> Trajectory:
    """The validated trajectory of an episode (SchemaError -> ValueError for the loaders)."""
    meta = {**meta, "restart_prompts": ep.restart_prompts, "derived_rationales": ep.derived_rationales}
    traj = Trajectory(id=id, instruction=ep.instruction, tools=tools, steps=ep.steps, answer=ep.answer,
                      outcome=ep.outcome, source=source, meta=meta)
    try:
        traj.validate()
    except SchemaError as e:
        raise ValueError(str(e)) from None
    return traj


def _dfsdt_record(path: Path, data: Any) -> list[Trajectory]:
    if not isinstance(data, dict) or not isinstance(data.get("answer_generation"), dict):
        raise ValueError("missing field 'answer_generation'")
    gen = data["answer_generation"]
    chains = gen.get("train_messages")
    if not chains:
        if gen.get("valid_data") is False:
            return []  # the search found no answer: there is no chain to read
        raise ValueError("answer_generation has no 'train_messages'")
    if not isinstance(chains, list) or not all(isinstance(c, list) for c in chains):
        raise ValueError("answer_generation.train_messages must be a list of message lists")
    if "function" not in gen:
        raise ValueError("missing field 'answer_generation.function'")
    tools = tools_from_functions(gen["function"], "answer_generation.function")
    ep = episode_from_messages(chains[-1], tools, "answer_generation.train_messages[-1]")
    group = path.parent.name.removesuffix("_answer")
    query_id, _, method = path.stem.partition("_")
    meta = {"group": group, "query_id": query_id, "method": method or None, "file": path.name}
    return [trajectory(ep, id=f"toolbench-{group}-{query_id}", source="toolbench", tools=tools, meta=meta)]


def load_dfsdt(path: str | os.PathLike, *, skip_bad: bool = False,
               report: SkipReport | None = None) -> Iterator[Trajectory]:
    """The final chain of one DFSDT answer file as a trajectory (see the module docstring)."""
    path = Path(path)
    try:
        try:
            records = _dfsdt_record(path, read_json(path))
        except (ValueError, KeyError, TypeError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(path, None, str(e)) from None
    except DataError as err:
        if not skip_bad:
            raise
        if report is not None:
            report.add(err)
        return
    yield from records


def _tooleval_messages(details: Any) -> list[dict[str, Any]] | None:
    """The `answer_details` node chain as OpenAI messages, or None where a tool message is cut
    off (then the record does not hold its observations)."""
    if not (isinstance(details, list) and len(details) == 1 and isinstance(details[0], dict)):
        raise ValueError("answer.answer_details must hold one root node")
    messages: list[dict[str, Any]] = []
    node: Any = details[0]
    while True:
        if not isinstance(node, dict) or "role" not in node or not isinstance(node.get("next"), list):
            raise ValueError("answer_details nodes must be objects with 'role', 'message', 'next'")
        role, text = node["role"], node.get("message") or ""
        if role == "tool":
            try:
                call = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
            if not isinstance(call, dict) or not {"name", "arguments"} <= set(call):
                raise ValueError(f"a tool message is not a {{name, arguments, response}} dict: {text[:80]!r}")
            fc = {"name": call["name"], "arguments": call["arguments"]}
            if messages and messages[-1]["role"] == "assistant" and "function_call" not in messages[-1]:
                messages[-1]["function_call"] = fc  # the thought written just before this call
            else:
                messages.append({"role": "assistant", "content": None, "function_call": fc})
            if call["name"] != FINISH:
                messages.append({"role": "function", "name": call["name"], "content": _text(call.get("response"))})
        elif role in ("system", "user", "assistant"):
            messages.append({"role": role, "content": text})
        else:
            raise ValueError(f"unknown node role {role!r} in answer_details")
        if not node["next"]:
            return messages
        if len(node["next"]) > 1:
            raise ValueError("answer_details branches; expected a single CoT chain")
        node = node["next"][0]


def _reference(answer: dict[str, Any]) -> dict[str, Any]:
    try:
        final = json.loads(answer.get("final_answer") or "")
    except (json.JSONDecodeError, TypeError):
        final = None
    final = final if isinstance(final, dict) else {}
    return {"method": answer.get("method"), "return_type": final.get("return_type"),
            "final_answer": final.get("final_answer")}


def _tooleval_record(qid: str, rec: Any, group: str) -> list[CallItem | Trajectory]:
    if not isinstance(rec, dict):
        raise ValueError("a record must be an object")
    query, answer = rec["query"], rec["answer"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("'query' must be a non-empty string")
    if not isinstance(answer, dict):
        raise ValueError("'answer' must be an object")
    tools = tools_from_functions(rec["available_tools"], "available_tools")
    meta = {"group": group, "query_id": qid}
    out: list[CallItem | Trajectory] = [CallItem(
        id=f"toolbench_cot-{group}-{qid}", source="toolbench_cot", instruction=query.strip(), tools=tools,
        calls=[], meta={**meta, "reference": _reference(answer)})]
    messages = _tooleval_messages(answer["answer_details"])
    finished = messages and any(m.get("function_call", {}).get("name") == FINISH for m in messages)
    if finished:
        ep = episode_from_messages(messages, tools, "answer.answer_details")
        ep.instruction = query.strip()
        out.append(trajectory(ep, id=f"toolbench_cot-{group}-{qid}", source="toolbench_cot", tools=tools,
                              meta={**meta, "method": answer.get("method")}))
    return out


def load_tooleval_results(path: str | os.PathLike, *, skip_bad: bool = False,
                          report: SkipReport | None = None) -> Iterator[CallItem | Trajectory]:
    """A `CallItem` per query, and a `Trajectory` where the record holds the whole chain."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, None, "expected a JSON object mapping query ids to records")
    text = path.read_text(encoding="utf-8")
    group = path.stem
    for qid, rec in data.items():
        try:
            try:
                records = _tooleval_record(str(qid), rec, group)
            except KeyError as e:
                raise DataError(path, _line_of_key(text, qid), f"record {qid}: missing field {e.args[0]!r}") from None
            except (ValueError, TypeError) as e:
                raise DataError(path, _line_of_key(text, qid), f"record {qid}: {e}") from None
        except DataError as err:
            if not skip_bad:
                raise
            if report is not None:
                report.add(err)
            continue
        yield from records


def _line_of_key(text: str, key: str) -> int | str:
    m = re.search(rf'^\s*"{re.escape(str(key))}"\s*:', text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else f"record {key}"


def load_queries(path: str | os.PathLike, *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[CallItem | ToolSpec]:
    """ToolBench query files: the endpoints as `ToolSpec`s, each query as a `CallItem` with
    `calls=[]` (they hold no reference calls)."""
    return stabletoolbench.load_queries(path, skip_bad=skip_bad, report=report, source="toolbench")
