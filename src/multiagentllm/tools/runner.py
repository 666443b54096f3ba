"""Where a tool call runs, and how its timeout ends it.

A call runs in one of two places, chosen by the tool:

* **A thread** (the default, `run_with_timeout`).  The call runs in a daemon thread joined with
  the timeout; when it overruns, `_interrupt` raises `ToolTimeout` inside it
  (`PyThreadState_SetAsyncExc`), which stops Python code (loops, recursion) at its next bytecode.
  It is cheap and shares the registry's `World`, but it cannot stop one long C call: a sleep or a
  socket read goes on in the background (the caller still gets its observation on time), and a C
  call that holds the GIL, such as one big-integer power, freezes the whole process -- every other
  episode, the server's `/health`, and the caller itself, which can only see the timeout when that
  call ends.  The observation then says how long the call really ran (or, when the call got to
  finish in the meantime, it is its result: the work is done, and late is better than lost).

* **A worker process** (`run_in_worker`), for tools marked `@tool(cpu_bound=True)`: pure functions
  of their arguments whose cost an argument can drive, such as the arithmetic tools.  The caller
  waits on a pipe, which frees the GIL, and on a timeout kills the worker: the work ends at once,
  whatever it was doing, and nothing else in the process waits for it.  Idle workers are kept in a
  small pool, so an ordinary call costs one round trip on a pipe (a fraction of a millisecond); a
  worker is started (about 0.15 s, not counted in the call's timeout) on first use, after a kill,
  and when more calls run at once than workers are idle.

Why by hand: `concurrent.futures.ProcessPoolExecutor` cannot stop a task that is running (pebble
can, but is not a dependency), and `multiprocessing.Process` either forks, which is unsafe in a
threaded server, or spawns, which re-imports the caller's `__main__`.  A worker here is a plain
`python -c` subprocess speaking over a `multiprocessing.Pipe`.  It finds the tool's function by
module and qualified name, so a CPU-bound tool must be defined at the top level of an importable
module (`tool()` checks this).  POSIX only (the pipe is passed with `pass_fds`).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from multiagentllm.paths import PACKAGE_DIR

START_TIMEOUT = 60.0  # seconds a new worker may take to start; not part of any call's timeout
KEEP_IDLE = 8  # idle workers kept for later calls (about 25 MB each); more close after their call
_PACKAGE_ROOT = str(PACKAGE_DIR.parent)  # the folder that holds `multiagentllm`


class ToolTimeout(Exception):
    """A tool call overran its timeout (raised inside a tool's thread, and to the caller)."""


def timeout_message(timeout: float, elapsed: float) -> str:
    """What happened, truthfully: a call its caller could only leave late says how late."""
    if elapsed <= timeout + max(0.5, timeout / 2):
        return f"timed out after {timeout:g} s"
    return f"ran past its {timeout:g} s time limit and held up its caller for {elapsed:.1f} s"


def _interrupt(thread: threading.Thread) -> None:
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(ToolTimeout))


def run_with_timeout(fn: Callable[[], Any], timeout: float | None) -> Any:
    """Run `fn()`; with a timeout, in a daemon thread that is interrupted when it overruns."""
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True, name="tool-call")
    start = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():  # (a thread that finished late, its GIL-holding call done, has its result)
        _interrupt(thread)
        raise ToolTimeout(timeout_message(timeout, time.monotonic() - start))
    if "error" in box:
        raise box["error"]
    return box.get("value")


class WorkerDied(Exception):
    """A worker process ended in the middle of a call (killed, crashed, or out of memory)."""


class _Worker:
    """One worker process and this process's end of its pipe."""

    def __init__(self) -> None:
        ours, theirs = Pipe()
        fd = theirs.fileno()
        path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", f"from multiagentllm.tools.runner import serve; serve({fd})"],
                pass_fds=(fd,), stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = ours
        try:  # the worker imports tools from the same paths as we do
            ours.send(list(sys.path))
            if not ours.poll(START_TIMEOUT) or ours.recv() != "ready":
                raise WorkerDied(f"a tool worker did not start within {START_TIMEOUT:g} s")
        except (EOFError, OSError):
            self.kill()
            raise WorkerDied(f"a tool worker failed to start (exit code {self.process.returncode})") from None
        except BaseException:
            self.kill()
            raise

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """End an idle worker: it leaves its loop when its pipe closes."""
        self.conn.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


class WorkerPool:
    """Idle workers, shared by every registry in this process (thread-safe)."""

    def __init__(self, keep: int = KEEP_IDLE) -> None:
        self.keep = keep
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker()

    def give_back(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def forget(self) -> None:
        """In a forked child: the workers are the parent's; drop our copies of their pipes."""
        self._lock = threading.Lock()
        for worker in self._idle:
            worker.conn.close()
        self._idle = []


POOL = WorkerPool()
atexit.register(POOL.close)
os.register_at_fork(after_in_child=POOL.forget)


def run_in_worker(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float | None) -> Any:
    """Run `fn(**kwargs)` in a worker process; when it overruns `timeout`, kill the worker."""
    worker = POOL.take()
    start = time.monotonic()
    try:
        worker.conn.send((fn.__module__, fn.__qualname__, kwargs))
        reply = worker.conn.recv() if worker.conn.poll(timeout) else None
    except (EOFError, OSError):
        worker.kill()
        raise WorkerDied(f"its worker process ended (exit code {worker.process.returncode})") from None
    except BaseException:  # e.g. an argument that does not pickle, or Ctrl-C while waiting
        worker.kill()
        raise
    if reply is None:
        worker.kill()
        raise ToolTimeout(timeout_message(timeout, time.monotonic() - start))
    POOL.give_back(worker)
    ok, value = reply
    if not ok:
        raise value
    return value


def _resolve(module: str, qualname: str) -> Callable[..., Any]:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "fn", obj)  # `@tool` leaves a FunctionTool where the function was


def _portable(error: Exception) -> Exception:
    """The exception itself when it survives pickling, else a RuntimeError that tells it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any failure means: send a plain copy
        return RuntimeError(f"{type(error).__name__}: {error}")


def serve(fd: int) -> None:
    """The worker's loop, in the child process: run each call it is sent, send back the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which then ends us
    conn = Connection(fd)
    sys.path[:] = conn.recv()
    conn.send("ready")
    while True:
        try:
            module, qualname, kwargs = conn.recv()
        except EOFError:
            return
        try:
            reply = (True, _resolve(module, qualname)(**kwargs))
        except Exception as e:  # noqa: BLE001 - the caller's registry turns it into an observation
            reply = (False, _portable(e))
        try:
            conn.send(reply)
        except Exception as e:  # noqa: BLE001 - a result that does not pickle
            conn.send((False, RuntimeError(f"its result could not be sent back: {type(e).__name__}: {e}")))
