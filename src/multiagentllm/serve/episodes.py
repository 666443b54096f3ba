"""Episodes that pause for the client's tools, and how they resume without re-implementing the loop.

An episode may offer tools that only the client can run. When the caller picks one, the episode
stops (`ClientToolCall`), the response carries the call as `tool_calls`, and the client answers
with a `role: tool` message in its next request. The agent loop itself (`multiagentllm.agent`)
runs unchanged: resuming is a *replay*. The new request runs a fresh `Agent` whose model is a
`ReplayLLM` (it returns the outputs the models already wrote, then generates for real) and whose
tools are `EpisodeTools` (they return the observations already made, then call for real). The
loop is deterministic given those, so it walks back to where it stopped in microseconds and goes
on from there: same prompts, same step count, same limits.

What is replayed comes from the server's memory of the paused episode (`EpisodeStore`, keyed by
the episode id inside the tool call id; it keeps the episode's tool world, so a booking made
before the pause still exists) or, when the server does not know the episode (restarted, expired,
or a history the client built itself), from the messages: each assistant tool call becomes a
planner output `Rationale: <content>\\nNext: Caller` and a caller output `Action: ...`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.tools.registry import Observation, error_observation, validate_arguments
from multiagentllm.types import ToolCall

_CALL_ID = re.compile(r"^call_(?P<episode>[0-9a-f]{16})_(?P<n>\d+)$")


class ClientToolCall(Exception):
    """The caller chose a tool that runs on the client: the episode pauses here."""

    def __init__(self, call: ToolCall):
        super().__init__(f"client tool {call.name!r}")
        self.call = call


class ReplayMismatch(RuntimeError):
    """A resumed episode did not walk the recorded path (the history does not fit together)."""


def new_episode_id() -> str:
    return uuid.uuid4().hex[:16]


def call_id(episode: str, n: int) -> str:
    return f"call_{episode}_{n}"


def episode_of(tool_call_id: str) -> str | None:
    m = _CALL_ID.match(tool_call_id)
    return m.group("episode") if m else None


@dataclass
class Recorded:
    """A tool call the episode already made, and what it returned."""

    name: str
    arguments: dict[str, Any]
    content: str
    ok: bool = True


class EpisodeTools:
    """The tools one episode sees: `offered` schemas, run by `registry` (this episode's own
    world) unless they are client tools. Duck-types the registry API the agent uses."""

    def __init__(self, registry: Any, offered: list[dict[str, Any]],
                 client: dict[str, dict[str, Any]], replay: list[Recorded]):
        self.registry, self.offered, self.client = registry, offered, client
        self.replay = list(replay)
        self.log: list[Recorded] = []

    def schemas(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        if names is None:
            return list(self.offered)
        by_name = {s["name"]: s for s in self.offered}
        return [by_name[n] for n in names]

    def toolset(self, name: str) -> list[str]:
        raise KeyError(f"tool sets are chosen per request (the 'toolset' field), not {name!r}")

    def call(self, name: str, arguments: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> Observation:
        arguments = arguments or {}
        if self.replay:
            rec = self.replay.pop(0)
            if rec.name != name or rec.arguments != arguments:
                raise ReplayMismatch(f"the history has a call of {rec.name!r} where the episode now "
                                     f"calls {name!r} with {arguments}")
            self.log.append(rec)
            return Observation(rec.content, rec.ok)
        if name in self.client:
            reason = validate_arguments(self.client[name], arguments)
            if reason:  # the client never sees a call its own schema rejects
                return self._record(name, arguments, error_observation(reason))
            raise ClientToolCall(ToolCall(name, arguments))
        return self._record(name, arguments, self.registry.call(name, arguments, timeout=timeout))

    def _record(self, name: str, arguments: dict[str, Any], obs: Observation) -> Observation:
        self.log.append(Recorded(name, arguments, obs.content, obs.ok))
        return obs

    @property
    def replaying(self) -> bool:
        return bool(self.replay)


class ReplayLLM:
    """Returns `outputs` (role, text) in order, then passes calls on to `inner`; `live` turns
    true at the first real generation. `log` holds every output of the episode."""

    def __init__(self, inner: Any, outputs: list[tuple[str, str]]):
        self.inner = inner
        self.replay = list(outputs)
        self.log: list[tuple[str, str]] = []
        self.live = not self.replay
        self.count_tokens = getattr(inner, "count_tokens", None)

    @property
    def constrains(self) -> bool:
        return bool(getattr(self.inner, "constrains", False))

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        if self.replay:
            want, text = self.replay.pop(0)
            if want != role or len(prompts) != 1:
                raise ReplayMismatch(f"the history has a {want} turn where the episode asks the {role}")
            self.log.append((role, text))
            return [text]
        self.live = True
        extra = {"constraint": constraint} if constraint is not None else {}
        outs = self.inner.complete(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop, **extra)
        self.log.extend((role, o) for o in outs)
        return outs


@dataclass
class PausedEpisode:
    """Everything needed to go on once the client has run `pending`."""

    id: str
    instruction: str
    tool_names: list[str]
    registry: Any
    outputs: list[tuple[str, str]]
    calls: list[Recorded]
    pending: ToolCall
    pending_id: str
    created: float = field(default_factory=time.monotonic)


class EpisodeStore:
    """Paused episodes by id: bounded (the oldest is dropped first) and expiring after `ttl` s.
    `take` removes the episode, so two requests can never resume the same world twice."""

    def __init__(self, capacity: int, ttl: float):
        self.capacity, self.ttl = capacity, ttl
        self._items: OrderedDict[str, PausedEpisode] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, episode: PausedEpisode) -> None:
        with self._lock:
            self._expire()
            self._items[episode.id] = episode
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def take(self, episode_id: str | None) -> PausedEpisode | None:
        if episode_id is None:
            return None
        with self._lock:
            self._expire()
            return self._items.pop(episode_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.created <= self.ttl:
                break
            self._items.popitem(last=False)
