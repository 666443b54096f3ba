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
* restart prompts are dropped and empty thoughts get a derived rationale, both counted in
  `meta` (see `chains`).

Failed branches live only in `tree` (Thought / Action / Action Input nodes).  A branch that ends
in the model's own `give_up_and_restart` is a whole, truthful given-up episode: with
`load_dfsdt(..., give_up_branches=True)` each becomes a variant (`...-giveup{k}`).  Branches that
were pruned mid-way are not episodes and are left out.  A file whose search found no answer
(`valid_data` false, no `train_messages`) yields no main trajectory.  Tools are
`answer_generation.function` without `Finish`, names as ToolBench has them.

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
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders import CallItem, ToolSpec, stabletoolbench
from multiagentllm.data.loaders.chains import (
    FINISH, as_text, episode_from_messages, tools_from_functions, trajectory,
)
from multiagentllm.data.loaders.jsonfiles import read_json
from multiagentllm.io import DataError, SkipReport, parse_json, read_text, skip_or_raise
from multiagentllm.types import Trajectory


def _dfsdt_meta(path: Path) -> tuple[str, dict[str, Any]]:
    group = path.parent.name.removesuffix("_answer")
    query_id, _, method = path.stem.partition("_")
    return f"toolbench-{group}-{query_id}", {"group": group, "query_id": query_id, "method": method or None,
                                              "file": path.name}


def _generation(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("answer_generation"), dict):
        raise ValueError("missing field 'answer_generation'")
    if "function" not in data["answer_generation"]:
        raise ValueError("missing field 'answer_generation.function'")
    return data["answer_generation"]


def _dfsdt_record(path: Path, data: Any) -> list[Trajectory]:
    gen = _generation(data)
    chains = gen.get("train_messages")
    if not chains:
        if gen.get("valid_data") is False:
            return []  # the search found no answer: there is no chain to read
        raise ValueError("answer_generation has no 'train_messages'")
    if not isinstance(chains, list) or not all(isinstance(c, list) for c in chains):
        raise ValueError("answer_generation.train_messages must be a list of message lists")
    tools = tools_from_functions(gen["function"], "answer_generation.function")
    ep = episode_from_messages(chains[-1], tools, "answer_generation.train_messages[-1]")
    traj_id, meta = _dfsdt_meta(path)
    return [trajectory(ep, id=traj_id, source="toolbench", tools=tools, meta=meta)]


def give_up_paths(tree: Any) -> list[list[dict[str, Any]]]:
    """Root-to-leaf node paths of a DFSDT tree that end in the model's own
    `Finish(give_up_and_restart)` (pruned paths that just stopped are not episodes)."""
    out: list[list[dict[str, Any]]] = []

    def walk(node: Any, path: list[dict[str, Any]]) -> None:
        if not isinstance(node, dict):
            raise ValueError("tree nodes must be objects")
        path = [*path, node]
        children = node.get("children") or []
        if (not children and node.get("node_type") == "Action Input" and len(path) > 1
                and path[-2].get("description") == FINISH and "give_up_and_restart" in str(node.get("description"))):
            out.append(path)
        for child in children:
            walk(child, path)

    walk(tree, [])
    return out


def branch_messages(nodes: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """A tree path (Thought / Action / Action Input nodes) as the chat messages of its chain."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": query}]
    name = None
    for node in nodes[1:]:  # the root is an empty Action Input
        kind, text = node.get("node_type"), str(node.get("description") or "")
        if kind == "Thought":
            messages.append({"role": "assistant", "content": text})
        elif kind == "Action":
            name = text
        elif kind == "Action Input" and name is not None:
            messages.append({"role": "assistant", "content": None, "function_call": {"name": name, "arguments": text}})
            if name != FINISH:
                messages.append({"role": "function", "name": name, "content": as_text(node.get("observation", ""))})
            name = None
        else:
            raise ValueError(f"unexpected tree node {kind!r} (an Action Input needs its Action first)")
    return messages


def _give_up_branches(path: Path, data: Any, main: list[Trajectory]) -> Iterator[Trajectory | DataError]:
    """The give-up variants of one answer file; a bad branch is a DataError, yielded not raised,
    so that one broken branch does not cost the others."""
    try:
        gen = _generation(data)
        tools = tools_from_functions(gen["function"], "answer_generation.function")
        tree = data["tree"]["tree"] if isinstance(data.get("tree"), dict) else None
        paths = give_up_paths(tree) if tree is not None else []
    except (ValueError, KeyError, TypeError) as e:
        yield DataError(path, "tree", str(e))
        return
    traj_id, meta = _dfsdt_meta(path)
    main_steps = [t.steps for t in main]
    for k, nodes in enumerate(paths):
        where = f"tree give-up branch {k}"
        try:
            ep = episode_from_messages(branch_messages(nodes, str(gen["query"])), tools, where)
            if ep.steps in main_steps:
                continue  # the final chain itself
            yield trajectory(ep, id=f"{traj_id}-giveup{k}", source="toolbench", tools=tools,
                             meta={**meta, "variant": "give_up_branch"})
        except (ValueError, KeyError, TypeError) as e:
            yield DataError(path, None, str(e))  # the message names the branch


def load_dfsdt(path: str | os.PathLike, *, skip_bad: bool = False, report: SkipReport | None = None,
               give_up_branches: bool = False) -> Iterator[Trajectory]:
    """The final chain of one DFSDT answer file as a trajectory (see the module docstring).

    With `give_up_branches`, also every branch of the search tree that ended in the model's own
    decision to give up (`Finish(give_up_and_restart)`): a truthful given-up variant of the same
    instruction, with the thoughts, calls and observations of that branch.  Off by default: on
    the full ToolBench release it would add far more give-ups than answers."""
    path = Path(path)
    records: list[Trajectory] = []
    try:
        data = read_json(path)
    except DataError as err:
        skip_or_raise(err, skip_bad, report)
        return
    try:
        records = _dfsdt_record(path, data)
    except (ValueError, KeyError, TypeError) as e:
        skip_or_raise(DataError(path, None, str(e)), skip_bad, report)
        if not give_up_branches:
            return
    yield from records
    if give_up_branches:
        for rec in _give_up_branches(path, data, records):
            if isinstance(rec, DataError):
                skip_or_raise(rec, skip_bad, report)
            else:
                yield rec


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
                messages.append({"role": "function", "name": call["name"], "content": as_text(call.get("response"))})
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
    try:
        text = read_text(path)
        data = parse_json(text, path)
        if not isinstance(data, dict):
            raise DataError(path, None, "expected a JSON object mapping query ids to records")
    except DataError as err:
        skip_or_raise(err, skip_bad, report)
        return
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
            skip_or_raise(err, skip_bad, report)
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
