"""FireAct ReAct trajectories (`data/finetune/gpt_format/*.jsonl`): OpenAI chat rows in which the
assistant writes `Thought: ...\\nAction: search[...]` (or `lookup[...]`, `finish[...]`) and the
user answers `Observation: ...` (real Wikipedia / search snippets), ending with
`Observation: Episode finished, reward = <True|False|1|0>`.

Each row becomes one trajectory: a thought with `search[q]` is a caller step calling
`search({"query": q})` with the next observation; `lookup[k]` calls `lookup({"keyword": k})`; the
thought with `finish[a]` is the summarizer step and `a` the answer. The thoughts are the source's
own, so no rationale is derived. The two tools are FireAct's Wikipedia actions, given the schemas
below. Rows whose episode was not rewarded (a wrong final answer: 49 of the 2,063 rows of
`multitask_multimethod.jsonl`) are left out, and counted in `UNREWARDED` per file, because their
answer is not a target to learn; a row that does not follow the format (no action, two actions in
one turn, an observation missing) is a `DataError` naming file and line (`multitask.jsonl` has
none; `multitask_multimethod.jsonl` has 5 (3 turns with two actions, 2 rows starting with the assistant): read it with `--skip-bad`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.jsonfiles import convert_each
from multiagentllm.io import SkipReport
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory

SOURCE = "fireact"
TOOLS = [
    {"name": "search", "description": "Search Wikipedia for an entity or a question and return the first "
                                      "paragraph of the best page, or similar titles when there is no page.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "what to search"}},
                    "required": ["query"]}},
    {"name": "lookup", "description": "Return the next sentence containing a keyword in the last page searched.",
     "parameters": {"type": "object", "properties": {"keyword": {"type": "string", "description": "the keyword"}},
                    "required": ["keyword"]}},
]
_ARGUMENT = {"search": "query", "lookup": "keyword"}
_ACTION = re.compile(r"^Action:\s*(\w+)\[(.*)\]\s*$", re.MULTILINE | re.DOTALL)
_ACTION_LINE = re.compile(r"^Action:", re.MULTILINE)
_REWARD = re.compile(r"Episode finished, reward = (\w+)")
UNREWARDED: Counter[str] = Counter()  # rows left out per file, because the episode was not rewarded


def _observation(msg: Any, at: str) -> str:
    if not isinstance(msg, dict) or msg.get("role") != "user" or not isinstance(msg.get("content"), str):
        raise ValueError(f"{at}: expected the user's 'Observation: ...'")
    text = msg["content"].strip()
    if not text.startswith("Observation:"):
        raise ValueError(f"{at}: expected 'Observation: ...', got {text[:40]!r}")
    return text.removeprefix("Observation:").strip()


def _turn(content: Any, at: str) -> tuple[str, str, str]:
    """(thought, action, argument) of one assistant turn."""
    if not isinstance(content, str):
        raise ValueError(f"{at}: content must be text")
    if len(_ACTION_LINE.findall(content)) != 1:
        raise ValueError(f"{at}: expected exactly one 'Action: name[argument]' line")
    head, _, tail = content.partition("Action:")
    match = _ACTION.match("Action:" + tail.strip())
    if not match:
        raise ValueError(f"{at}: the action is not 'name[argument]'")
    thought = head.strip().removeprefix("Thought:").strip()
    if not thought:
        raise ValueError(f"{at}: an action without a thought")
    return thought, match.group(1).lower(), match.group(2).strip()


def row_trajectory(row: Any, index: int, stem: str) -> list[Trajectory]:
    """The trajectory of one FireAct row, or none when its episode was not rewarded."""
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        raise ValueError("a FireAct row is an object with a 'messages' list")
    messages = row["messages"]
    if not messages or messages[0].get("role") != "user" or not str(messages[0].get("content", "")).strip():
        raise ValueError("messages[0] must be the user's question")
    reward = _REWARD.search(str(messages[-1].get("content", "")))
    if not reward:
        raise ValueError(f"messages[{len(messages) - 1}]: the episode does not end with its reward")
    if reward.group(1) not in ("True", "1"):
        UNREWARDED[stem] += 1
        return []
    question = messages[0]["content"].strip().removeprefix("Question:").strip()
    steps: list[Step] = []
    answer = None
    i = 1
    while i < len(messages) - 1 and answer is None:  # the last message is the reward
        at = f"messages[{i}]"
        msg = messages[i]
        if not isinstance(msg, dict) or msg.get("role") != "assistant":
            raise ValueError(f"{at}: expected an assistant turn")
        thought, action, argument = _turn(msg.get("content"), at)
        if action == "finish":
            steps.append(Step(thought, "summarizer"))
            answer = argument
        elif action in _ARGUMENT:
            observation = _observation(messages[i + 1] if i + 1 < len(messages) else None, f"messages[{i + 1}]")
            steps.append(Step(thought, "caller", ToolCall(action, {_ARGUMENT[action]: argument}), observation))
            i += 1
        else:
            raise ValueError(f"{at}: unknown action {action!r} (expected search, lookup or finish)")
        i += 1
    if answer is None or not answer:
        raise ValueError("the episode has no finish[answer]")
    traj = Trajectory(id=f"{SOURCE}-{stem}-{index}", instruction=question, tools=TOOLS, steps=steps,
                      answer=answer, outcome="solved", source=SOURCE, meta={"file": stem})
    try:
        traj.validate()
    except SchemaError as e:
        raise ValueError(str(e)) from None
    return [traj]


def load_fireact(path: str | os.PathLike, *, skip_bad: bool = False,
                 report: SkipReport | None = None) -> Iterator[Trajectory]:
    """The rewarded trajectories of one FireAct file (see the module docstring)."""
    path = Path(path)
    UNREWARDED.pop(path.stem, None)
    return convert_each(path, lambda row, i: row_trajectory(row, i, path.stem), skip_bad=skip_bad, report=report)
