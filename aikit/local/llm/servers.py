"""The embedded offline LLM: one llama.cpp server per process and model, started on first use.

``aikit.AI("local")`` (or ``"local:/path/model.gguf"``) needs no API key and no network. The client
asks this module for an endpoint and then talks to it through the same OpenAI-compatible code path
as any hosted provider, including ``response_format: {"type": "json_schema", ...}`` structured output.

What :func:`aensure_server` / :func:`ensure_server` guarantee:

* **Child process.** llama.cpp (via the ``xllamacpp`` wheel) runs in ``python -m
  aikit.local.llm.serve``, never in the caller's process: a native crash cannot kill a Jupyter kernel.
* **Private.** It binds 127.0.0.1 on a free port and requires a random API key that lives only in this
  process and the child's environment (never in argv, logs, reprs or exceptions).
* **Quiet.** llama.cpp logging is off (``verbosity=-1``); the child's stdout/stderr go to
  ``$AIKIT_HOME/logs/local-llm-<model>.log`` (Python tracebacks only).
* **Shared.** One server per model per process, shared by every client and thread; starting is
  guarded by a lock, so concurrent first calls start exactly one server.
* **Sized for small machines.** Threads come from the CPU affinity mask (a container's quota), one
  request slot (``n_parallel=1``: on 2 cores a second slot gave no speed-up and ~200 MB more memory),
  4096 context tokens, and OpenMP's wait policy chosen from how busy the CPUs are at start
  (:func:`aikit.local.llm.serve.choose_omp_wait`, measured over a quarter of a second, not the
  lagging load average): threads that sleep rather than spin
  (``OMP_WAIT_POLICY=PASSIVE``: 2-20x faster per row when other jobs share the cores), or OpenMP's
  brief spinning on a quiet machine (1.2-1.9x faster per row there).
* **Stopped at exit** (``atexit`` and :func:`aikit._runtime.on_shutdown`); the child also exits by
  itself when this process dies, even by ``SIGKILL`` (it watches its stdin pipe and parent pid).
* **Restarted if it died.** A watcher thread notices a dead server at once and starts a new one on
  the *same port with the same key* (``logging.warning`` names the exit code and the log file), so a
  client that cached the endpoint succeeds on its next retry of the connection error. A server that
  keeps crashing (3 times in 60 s) is left alone; the next call then restarts it. Every call also
  checks the process before returning the endpoint. A client that gets a *connection error* may call
  ``aensure_server(model, restart=True)`` and retry: the server is health-checked and replaced if it
  does not answer, e.g. when hung (concurrent callers share one restart).

Sampling defaults to temperature 0 on the server, and the client (:mod:`aikit.client`) also sends
``temperature=0`` unless told otherwise, so answers are repeatable on one build. SmolLM2-135M is a
tiny demo-quality model: fine for classification demos with few-shot examples
(:mod:`aikit._batch.labels`), weak for summaries.

>>> endpoint = ensure_server()  # doctest: +SKIP
>>> endpoint.base_url  # doctest: +SKIP
'http://127.0.0.1:41235/v1'
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aikit.exceptions import LocalModelError
from aikit.local.llm.models import LocalModel, find_model
from aikit.local.llm.serve import ENV_API_KEY
from aikit.settings import ensure_dir, settings

__all__ = [
    "LocalEndpoint",
    "aensure_server",
    "astop_servers",
    "ensure_server",
    "running_servers",
    "stop_servers",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for the child to load the model and bind its port.
START_TIMEOUT_S = 60.0
#: Seconds a restart=True health check may take before the server counts as hung.
HEALTH_TIMEOUT_S = 5.0
#: Background restarts allowed per window before a crashing server is left for the next call.
MAX_AUTO_RESTARTS = 3
RESTART_WINDOW_S = 60.0
RUNTIME_INSTALL = 'pip install "aikit[local]"'


@dataclass(frozen=True)
class LocalEndpoint:
    """Where a running local server answers. The key is hidden from ``repr``.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:PORT/v1``, the OpenAI-compatible root.
    api_key : str
        Bearer token the server requires (random per start).
    model_path : Path
        The GGUF being served.
    pid : int
        The server process id.
    model : str
        The model id to send in requests (``"local"``; the server serves one model).
    """

    base_url: str
    api_key: str = field(repr=False)
    model_path: Path
    pid: int
    model: str = "local"

    @property
    def headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <key>"}`` for raw httpx calls."""
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class _Managed:
    model: LocalModel
    proc: subprocess.Popen[bytes]
    endpoint: LocalEndpoint
    log_path: Path
    n_parallel: int
    n_ctx: int
    restarts: list[float] = field(default_factory=list)
    owner_pid: int = field(default_factory=os.getpid)


_lock = threading.Lock()
_servers: dict[Path, _Managed] = {}
_hooks_registered = False


def _runtime_available() -> None:
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalModelError(
            f"the offline LLM runtime (xllamacpp) is not installed: run `{RUNTIME_INSTALL}` "
            "(a prebuilt wheel, no compiler needed)"
        )


def _log_path(model: LocalModel) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model.name)[:80]
    return ensure_dir(settings().home / "logs") / f"local-llm-{safe}.log"


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:].strip()


def _read_handshake(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
    """Read the child's one JSON line, or fail when it exits or the timeout passes.

    A helper thread does the blocking read (portable: Windows cannot ``select`` on pipes); on timeout
    the caller kills the child, which ends the read.
    """
    stdout = proc.stdout
    assert stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(
        target=lambda: lines.append(stdout.readline()), name="aikit-llm-handshake", daemon=True
    )
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise TimeoutError
    stdout.close()
    line = lines[0].strip() if lines else b""
    if not line:
        return {}  # EOF: the child exited before it was ready
    try:
        data = json.loads(line)
    except ValueError:
        return {"error": line.decode(errors="replace")[:500]}
    return data if isinstance(data, dict) else {}


def _dying(proc: subprocess.Popen[bytes]) -> bool:
    """True once the process exited or is exiting.

    A multi-threaded process killed by a signal is a zombie (``State: Z``) that ``waitpid`` cannot
    reap until all its threads are gone; ``poll()`` still says "running" in that window.
    """
    if proc.poll() is not None:
        return True
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except OSError:  # not Linux, or already gone
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"])


def _exit_code(proc: subprocess.Popen[bytes]) -> int | None:
    """The exit code, waiting briefly for a dying process; None while it runs."""
    if not _dying(proc):
        return None
    try:
        return proc.wait(2.0)
    except subprocess.TimeoutExpired:
        return -1


def _kill(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _start(
    model: LocalModel, *, n_parallel: int, n_ctx: int, port: int = 0, key: str | None = None
) -> _Managed:
    """Start a child server; ``port``/``key`` reuse a dead server's address so its endpoint stays valid."""
    _runtime_available()
    key = key or secrets.token_urlsafe(24)
    log_path = _log_path(model)
    if port:  # a restart: keep the dead server's log (it may hold a traceback), mark the new start
        with log_path.open("a") as log:
            log.write(f"--- restart at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
    else:
        log_path.write_text("")  # one start per log file; keep it small
    cmd = [
        sys.executable,
        "-m",
        "aikit.local.llm.serve",
        "--model",
        str(model.path),
        "--handshake",
        "--watch-parent",
        str(os.getpid()),
        "--log",
        str(log_path),
        "--parallel",
        str(n_parallel),
        "--ctx",
        str(n_ctx),
        "--port",
        str(port),
    ]
    env = {**os.environ, ENV_API_KEY: key}
    try:
        # stdin stays open for the child's lifetime: its EOF tells the child that we are gone.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
    except OSError as exc:
        raise LocalModelError(f"could not start the local LLM server: {exc}") from exc
    try:
        info = _read_handshake(proc, START_TIMEOUT_S)
    except TimeoutError:
        _kill(proc)
        raise LocalModelError(
            f"the local LLM server did not become ready within {START_TIMEOUT_S:.0f} s "
            f"(model {model.path}); log: {log_path}"
        ) from None
    bound = info.get("port")
    if not isinstance(bound, int):
        _kill(proc)
        detail = info.get("error") or _tail(log_path) or f"exit code {proc.poll()}"
        if info.get("kind") == "runtime":
            raise LocalModelError(
                f"the offline LLM runtime (xllamacpp) failed to load: {detail}. Slim Linux images need "
                f"libgomp (`apt-get install libgomp1`); otherwise reinstall it with `{RUNTIME_INSTALL}`."
            )
        raise LocalModelError(
            f"the local LLM server failed to start with model {model.path}: {detail} (log: {log_path}). "
            "Is it an instruct GGUF with a chat template?"
        )
    endpoint = LocalEndpoint(
        base_url=f"http://127.0.0.1:{bound}/v1", api_key=key, model_path=model.path, pid=proc.pid
    )
    _check_health(endpoint, timeout=5.0, raise_error=True)
    return _Managed(model, proc, endpoint, log_path, n_parallel, n_ctx)


def _replace(old: _Managed, why: str) -> _Managed:
    """Start a successor for ``old`` (caller holds ``_lock``): same port and key when possible.

    Keeping the address means clients that cached the endpoint simply succeed on their next retry.
    """
    logger.warning(
        "aikit local LLM server (pid %s) %s; restarting it. Log: %s", old.proc.pid, why, old.log_path
    )
    port = int(old.endpoint.base_url.rsplit(":", 1)[1].split("/", 1)[0])
    try:
        new = _start(
            old.model, n_parallel=old.n_parallel, n_ctx=old.n_ctx, port=port, key=old.endpoint.api_key
        )
    except LocalModelError:  # the port was taken meanwhile: a fresh address, found via ensure_server()
        new = _start(old.model, n_parallel=old.n_parallel, n_ctx=old.n_ctx)
    now = time.monotonic()
    new.restarts = [t for t in old.restarts if now - t < RESTART_WINDOW_S] + [now]
    return new


def _watch(managed: _Managed) -> None:
    """Background thread: when the server dies unasked, restart it at once (bounded), else just return."""
    code = managed.proc.wait()
    with _lock:
        if _servers.get(managed.model.path) is not managed or managed.owner_pid != os.getpid():
            return  # stopped on purpose, or already replaced by ensure_server()
        recent = [t for t in managed.restarts if time.monotonic() - t < RESTART_WINDOW_S]
        if len(recent) >= MAX_AUTO_RESTARTS:
            logger.warning(
                "aikit local LLM server (pid %s) died with exit code %s, %d times within %.0f s; not "
                "restarting it in the background (the next call will try). Log: %s",
                managed.proc.pid,
                code,
                len(recent) + 1,
                RESTART_WINDOW_S,
                managed.log_path,
            )
            _servers.pop(managed.model.path, None)
            return
        try:
            new = _replace(managed, f"died with exit code {code}")
        except LocalModelError as exc:
            logger.warning("aikit local LLM server could not be restarted: %s", exc)
            _servers.pop(managed.model.path, None)
            return
        _register(new)


def _register(managed: _Managed) -> None:
    """Record ``managed`` (caller holds ``_lock``) and watch it from a daemon thread."""
    _servers[managed.model.path] = managed
    threading.Thread(target=_watch, args=(managed,), name="aikit-llm-watch", daemon=True).start()


def _check_health(endpoint: LocalEndpoint, *, timeout: float, raise_error: bool = False) -> bool:
    root = endpoint.base_url.removesuffix("/v1")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            response = httpx.get(f"{root}/health", timeout=min(timeout, 2.0))
            if response.status_code == 200:
                return True
            last = RuntimeError(f"HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            last = exc
        if time.monotonic() >= deadline:
            if raise_error:
                raise LocalModelError(f"the local LLM server does not answer /health: {last}")
            return False
        time.sleep(0.05)


def _register_hooks() -> None:
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    atexit.register(stop_servers)
    try:
        from aikit._runtime import on_shutdown

        on_shutdown(astop_servers)
    except ImportError:  # pragma: no cover - the runtime ships with aikit
        pass


def ensure_server(
    model: str | os.PathLike[str] | None = None,
    *,
    restart: bool = False,
    n_parallel: int = 1,
    n_ctx: int = 4096,
) -> LocalEndpoint:
    """Return the endpoint of this process's server for ``model``, starting it if needed.

    Parameters
    ----------
    model : str or PathLike, optional
        None (``$AIKIT_LOCAL_MODEL``, else SmolLM2), a known name (``"smollm2"``) or a ``.gguf`` path.
    restart : bool
        Call this after a connection error from the endpoint: the running server is health-checked
        and replaced if it does not answer. A healthy server is returned unchanged.
    n_parallel, n_ctx : int
        Request slots and context tokens per slot, used only when a server is started.

    Returns
    -------
    LocalEndpoint

    Raises
    ------
    LocalModelError
        Runtime or model missing (the message gives the install command), or the server failed to
        start (the message gives the log file).

    Examples
    --------
    >>> import httpx
    >>> ep = ensure_server()  # doctest: +SKIP
    >>> httpx.get(ep.base_url + "/models", headers=ep.headers).status_code  # doctest: +SKIP
    200
    """
    resolved = find_model(model)
    with _lock:
        managed = _servers.get(resolved.path)
        if managed is not None and managed.owner_pid != os.getpid():
            managed = None  # inherited through fork: not ours to use or stop
            _servers.pop(resolved.path, None)
        if managed is not None:
            code = _exit_code(managed.proc)
            if code is None and not restart:
                return managed.endpoint
            if code is None and _check_health(managed.endpoint, timeout=HEALTH_TIMEOUT_S):
                return managed.endpoint
            if code is None:
                managed.proc.kill()  # hung: no point in a polite SIGTERM
                _kill(managed.proc)
            why = "stopped answering" if code is None else f"died with exit code {code}"
            _register(_replace(managed, why))
            return _servers[resolved.path].endpoint
        _register_hooks()
        _register(_start(resolved, n_parallel=n_parallel, n_ctx=n_ctx))
        return _servers[resolved.path].endpoint


async def aensure_server(
    model: str | os.PathLike[str] | None = None,
    *,
    restart: bool = False,
    n_parallel: int = 1,
    n_ctx: int = 4096,
) -> LocalEndpoint:
    """Async :func:`ensure_server`: the fast path never blocks; a start runs in a worker thread.

    Examples
    --------
    >>> endpoint = await aensure_server()  # doctest: +SKIP
    """
    if not restart:
        try:
            resolved = find_model(model)
        except LocalModelError:
            resolved = None
        managed = _servers.get(resolved.path) if resolved is not None else None
        if managed is not None and managed.owner_pid == os.getpid() and not _dying(managed.proc):
            return managed.endpoint
    return await asyncio.to_thread(ensure_server, model, restart=restart, n_parallel=n_parallel, n_ctx=n_ctx)


def running_servers() -> list[LocalEndpoint]:
    """Endpoints of the live servers this process started."""
    with _lock:
        return [m.endpoint for m in _servers.values() if not _dying(m.proc)]


def stop_servers() -> None:
    """Stop every server this process started (runs at exit; safe to call any time).

    The next :func:`ensure_server` starts a fresh one, without a warning.
    """
    with _lock:
        managed = [m for m in _servers.values() if m.owner_pid == os.getpid()]
        _servers.clear()
    for m in managed:
        _kill(m.proc)


async def astop_servers() -> None:
    """Async :func:`stop_servers` (registered with :func:`aikit._runtime.on_shutdown`)."""
    await asyncio.to_thread(stop_servers)


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _servers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
