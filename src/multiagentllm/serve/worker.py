"""One thread owns the model; everything else talks to it through a queue.

Models are not thread-safe (a transformers model switching LoRA adapters certainly is not), so
exactly one worker thread calls `llm.complete`. Requests are admitted up to `queue_size` at a
time (`Admission`); beyond that the server answers 429 at once instead of letting a backlog grow
without bound. Agent episodes run in their own threads with their own state and reach the model
through a `QueuedLLM`, which submits each generation to the worker and waits for it.

Role completions waiting with the same settings (role, max_new_tokens, stop) are merged into one
batched `complete` call, up to `max_batch` prompts: a batching backend serves them in one forward
pass per token instead of one pass per request.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from multiagentllm.types import LLM

log = logging.getLogger("multiagentllm.serve")

LLMSource = LLM | Callable[[], LLM]
_POLL = 0.05  # seconds between looks at a waiting episode's cancel flag


class ModelUnavailable(RuntimeError):
    """The model is still loading, failed to load, or the worker stopped."""


class Cancelled(RuntimeError):
    """The request this generation belongs to was given up (its client went away)."""


@dataclass
class Job:
    prompts: list[str]
    role: str
    max_new_tokens: int
    stop: list[str]
    constraints: list[Any] | None = None  # one grammar (or None) per prompt
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, int, tuple[str, ...]]:
        return (self.role, self.max_new_tokens, tuple(self.stop))


class ModelWorker:
    """Owns `llm` (or builds it from a factory in its own thread, so the server answers /health
    while a large model loads) and runs generation jobs one batch at a time."""

    def __init__(self, source: LLMSource, *, max_batch: int = 8):
        self.llm: Any = source if hasattr(source, "complete") else None
        self._factory = None if self.llm is not None else source
        self.max_batch = max_batch
        self.state = "ready" if self.llm is not None else "loading"
        self.error: str | None = None
        self.generations = self.batches = 0
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._held: list[Job] = []  # taken from the queue while batching, not yet run
        self._thread = threading.Thread(target=self._run, daemon=True, name="umi-model-worker")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)
        self.state = "stopped" if self.state != "failed" else self.state

    def submit(self, prompts: list[str], *, role: str, max_new_tokens: int,
               stop: list[str], constraint: Any = None) -> Future:
        if self.state in ("failed", "stopped"):
            raise ModelUnavailable(f"the model is {self.state}" + (f": {self.error}" if self.error else ""))
        grammars = constraint if isinstance(constraint, list) else (
            None if constraint is None else [constraint] * len(prompts))
        job = Job(list(prompts), role, max_new_tokens, list(stop), grammars)
        self._jobs.put(job)
        return job.future

    @property
    def waiting(self) -> int:
        return self._jobs.qsize() + len(self._held)

    # --- the worker thread ------------------------------------------------------------------

    def _run(self) -> None:
        if self._factory is not None:
            try:
                started = time.monotonic()
                self.llm = self._factory()
                self.state = "ready"
                log.info("model loaded in %.1f s", time.monotonic() - started)
            except BaseException as e:  # noqa: BLE001 - reported through /health and 503s
                self.state, self.error = "failed", f"{type(e).__name__}: {e}"
                log.error("model failed to load: %s", self.error)
                self._fail_all()
                return
        while True:
            job = self._held.pop(0) if self._held else self._jobs.get()
            if job is None:
                self._fail_all()
                return
            batch = self._gather(job)
            self._execute(batch)

    def _gather(self, first: Job) -> list[Job]:
        """`first` plus queued jobs with the same settings, up to `max_batch` prompts."""
        batch, size = [first], len(first.prompts)
        while size < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.key == first.key and size + len(job.prompts) <= self.max_batch:
                batch.append(job)
                size += len(job.prompts)
            else:
                self._held.append(job)  # runs next, in arrival order
                if job is None:
                    break
        return batch

    def _execute(self, batch: list[Job]) -> None:
        live = [j for j in batch if j.future.set_running_or_notify_cancel()]
        if not live:
            return
        prompts = [p for j in live for p in j.prompts]
        first = live[0]
        grammars = [g for j in live for g in (j.constraints or [None] * len(j.prompts))]
        extra = {"constraint": grammars} if any(g is not None for g in grammars) else {}
        try:
            outs = self.llm.complete(prompts, role=first.role, max_new_tokens=first.max_new_tokens,
                                     stop=list(first.stop), **extra)
            if len(outs) != len(prompts):
                raise RuntimeError(f"the model returned {len(outs)} completions for {len(prompts)} prompts")
        except BaseException as e:  # noqa: BLE001 - each waiting request gets the error
            for j in live:
                j.future.set_exception(e)
            return
        self.generations += len(prompts)
        self.batches += 1
        at = 0
        for j in live:
            j.future.set_result(list(outs[at: at + len(j.prompts)]))
            at += len(j.prompts)

    def _fail_all(self) -> None:
        pending = list(self._held)
        self._held.clear()
        while True:
            try:
                pending.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        for job in pending:
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(ModelUnavailable(f"the model is {self.state}"))


class Admission:
    """At most `limit` requests inside the server at once; `enter` says whether one more fits."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


class QueuedLLM:
    """The `LLM` an agent episode sees: every call goes through the worker. It counts the
    episode's tokens and can be cancelled (the next call raises `Cancelled`)."""

    def __init__(self, worker: ModelWorker, *, timeout: float | None, count_tokens: Callable[[str], int]):
        self.worker, self.timeout = worker, timeout
        self.count_tokens = count_tokens
        self.cancelled = threading.Event()
        self.prompt_tokens = self.completion_tokens = 0

    @property
    def constrains(self) -> bool:
        return bool(getattr(self.worker.llm, "constrains", False))

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        if self.cancelled.is_set():
            raise Cancelled("the request was cancelled")
        future = self.worker.submit(prompts, role=role, max_new_tokens=max_new_tokens, stop=stop,
                                    constraint=constraint)
        outs = self._wait(future)
        self.prompt_tokens += sum(self.count_tokens(p) for p in prompts)
        self.completion_tokens += sum(self.count_tokens(o) for o in outs)
        return outs

    def _wait(self, future: Future) -> list[str]:
        """The job's outputs. A job still queued when the episode is cancelled is taken off the
        queue (one that is generating finishes: the episode stops before its next call)."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                return future.result(timeout=_POLL)
            except FutureTimeout:
                if self.cancelled.is_set() and future.cancel():
                    raise Cancelled("the request was cancelled") from None
                if deadline is not None and time.monotonic() >= deadline:
                    future.cancel()
                    raise ModelUnavailable(f"waited more than {self.timeout:g} s for the model") from None
