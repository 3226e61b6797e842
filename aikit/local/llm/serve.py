"""Run llama.cpp's OpenAI-compatible server (``xllamacpp.Server``) in this process until told to stop.

This is the body of the child process that :mod:`aikit.local.llm.servers` starts (``python -m
aikit.local.llm.serve ...``) and of the foreground ``aikit serve ai`` command. Keeping the native code
in its own process means a crash in llama.cpp can never take a Jupyter kernel down with it.

The API key is read from ``$AIKIT_LOCAL_API_KEY`` (never from argv, which other users can read in
``ps``). With ``--handshake`` the process writes one JSON line ``{"port": P, "pid": N}`` to its
original stdout once the model is loaded and the port is bound, then points stdout and stderr at
``--log`` (or ``/dev/null``). With ``--watch-parent`` it exits as soon as its stdin reaches EOF or its
parent process changes, so a killed notebook kernel never leaves an orphan server behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["ServeOptions", "busy_cpus", "choose_omp_wait", "default_threads", "main", "start_server"]

#: Environment variable holding the API key the server requires (unset: no key).
ENV_API_KEY = "AIKIT_LOCAL_API_KEY"
#: libgomp's spin/sleep policy for idle worker threads.
ENV_OMP_WAIT = "OMP_WAIT_POLICY"


def default_threads() -> int:
    """CPUs this process may run on (the affinity mask, which a container's CPU quota often narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


#: Busy CPUs per CPU below which the machine counts as quiet (a 2-core machine: less than one busy).
QUIET_LOAD_PER_CPU = 0.5
#: How long :func:`busy_cpus` watches the machine before the server starts, in seconds.
BUSY_WINDOW_S = 0.25


def _cpu_ticks() -> tuple[int, int] | None:
    """``(busy, total)`` clock ticks of all CPUs since boot, from ``/proc/stat`` (None off Linux)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


def busy_cpus(window_s: float = BUSY_WINDOW_S) -> float | None:
    """How many CPUs other work keeps busy right now: measured over ``window_s`` from ``/proc/stat``.

    The 1-minute load average lags by a minute: it still counts a server (or a test run) that has
    just stopped, so a server started right after another read a busy machine where there was none
    and chose the slower policy (measured: 1.29x the best setting). None where ``/proc/stat`` is
    missing; then :func:`choose_omp_wait` falls back to the load average.
    """
    first = _cpu_ticks()
    if first is None:
        return None
    time.sleep(window_s)
    second = _cpu_ticks()
    if second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1]) * (os.cpu_count() or 1)


def choose_omp_wait(load1: float | None = None, cpus: int | None = None) -> str | None:
    """The ``OMP_WAIT_POLICY`` for a server starting now: None (libgomp's default) or ``"PASSIVE"``.

    On a quiet machine (other work keeping less than half of each CPU busy) OpenMP's default lets
    worker threads spin briefly between the many short parallel steps of each token, then sleep:
    faster per row than ``PASSIVE`` there, with no CPU burnt between requests (unlike ``ACTIVE``,
    which spins forever). On a loaded machine spinning threads fight the other jobs for the cores,
    so they sleep at once (``PASSIVE``: 2-20x faster per row there). ``load1`` is how many CPUs are
    busy: by default measured now (:func:`busy_cpus`, a quarter of a second before the server
    starts), else the 1-minute load average; ``cpus`` defaults to this process's CPUs.

    >>> choose_omp_wait(0.2, 2), choose_omp_wait(3.5, 2)
    (None, 'PASSIVE')
    """
    if load1 is None:
        load1 = busy_cpus()
    if load1 is None:
        try:
            load1 = os.getloadavg()[0]
        except OSError:  # not available: assume the cautious case
            return "PASSIVE"
    cpus = cpus or default_threads()
    return None if load1 < QUIET_LOAD_PER_CPU * cpus else "PASSIVE"


def _set_omp_wait() -> None:
    """Choose ``OMP_WAIT_POLICY`` from the machine's load, unless the environment already sets it."""
    if ENV_OMP_WAIT not in os.environ:
        policy = choose_omp_wait()
        if policy is not None:
            os.environ[ENV_OMP_WAIT] = policy


@dataclass(frozen=True)
class ServeOptions:
    """How to run one llama.cpp server.

    Attributes
    ----------
    model_path : str
        The ``.gguf`` file.
    host : str
        Bind address, ``127.0.0.1`` unless you really mean otherwise.
    port : int
        0 picks a free port.
    api_key : str or None
        Required bearer token; None serves without a key.
    n_threads : int
        Decode threads; 0 means :func:`default_threads`.
    n_parallel : int
        Request slots. 1 is fastest on 2 cores (see ``benchmarks/bench_local_llm.py``).
    n_ctx : int
        Context tokens per slot.
    alias : str
        The model id shown by ``/v1/models``.
    """

    model_path: str
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    n_threads: int = 0
    n_parallel: int = 1
    n_ctx: int = 4096
    alias: str = "local"


def start_server(options: ServeOptions) -> Any:
    """Start ``xllamacpp.Server`` with aikit's settings and return it (it serves from its own threads).

    Logs are silenced (``verbosity=-1``), the default sampling temperature is 0 (greedy, repeatable),
    the built-in web UI is off. Unless the environment sets ``OMP_WAIT_POLICY``, it is chosen from
    the machine's load at start (:func:`choose_omp_wait`): OpenMP's brief spinning when the machine is
    quiet, ``PASSIVE`` when other jobs share the cores (there spinning threads made each
    classification about 20 times slower: 7.3 s vs 0.33 s per row). That variable is read when the
    library loads, so call this before anything imports ``xllamacpp``.
    """
    _set_omp_wait()
    import xllamacpp

    threads = options.n_threads or default_threads()
    params = xllamacpp.CommonParams()
    params.model.path = options.model_path
    params.hostnames = [options.host]
    params.port = options.port
    params.verbosity = -1
    params.api_keys = [options.api_key] if options.api_key else []
    params.n_parallel = max(1, options.n_parallel)
    # n_ctx is shared by all slots in llama.cpp's server: give each slot the requested size.
    params.n_ctx = options.n_ctx * params.n_parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.sampling.temp = 0.0
    params.ui = False
    params.model_alias = {options.alias}
    return xllamacpp.Server(params)


def _parent_watch(parent_pid: int) -> None:
    """Exit when stdin closes (the parent died or let go) or the parent pid changes."""

    def _stdin() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    def _ppid() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=_stdin, name="aikit-llm-stdin", daemon=True).start()
    threading.Thread(target=_ppid, name="aikit-llm-ppid", daemon=True).start()


def _redirect_output(log: str | None) -> None:
    """Point fds 1 and 2 at ``log`` (appending) or /dev/null, so native code cannot write to a pipe."""
    target = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _report(handshake: IO[str] | None, exc: BaseException, kind: str) -> None:
    if handshake is not None:
        handshake.write(json.dumps({"error": f"{type(exc).__name__}: {exc}", "kind": kind}) + "\n")
        handshake.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aikit.local.llm.serve", description=__doc__)
    p.add_argument("--model", required=True, help="path of the .gguf file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--alias", default="local")
    p.add_argument("--log", default=None, help="file for stdout/stderr after the handshake")
    p.add_argument("--handshake", action="store_true", help="print one JSON line when ready")
    p.add_argument("--watch-parent", type=int, default=0, metavar="PID", help="exit when PID goes away")
    return p


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point; see the module docstring."""
    args = _parser().parse_args(argv)
    handshake = None
    if args.handshake:
        # Keep the pipe for the one ready line; everything else (native logs, tracebacks) goes to --log.
        handshake = os.fdopen(os.dup(1), "w")
        _redirect_output(args.log)
    if args.watch_parent:
        _parent_watch(args.watch_parent)
    options = ServeOptions(
        model_path=args.model,
        host=args.host,
        port=args.port,
        api_key=os.environ.get(ENV_API_KEY) or None,
        n_threads=args.threads,
        n_parallel=args.parallel,
        n_ctx=args.ctx,
        alias=args.alias,
    )
    try:
        _set_omp_wait()
        import xllamacpp  # noqa: F401 - load the native library first, to tell its errors apart
    except Exception as exc:  # ImportError, OSError: libgomp.so.1 missing, unsupported CPU ...
        _report(handshake, exc, "runtime")
        raise
    try:
        server = start_server(options)
        address = str(server.listening_address)
    except Exception as exc:  # reported through the handshake, then the log
        _report(handshake, exc, "model")
        raise
    port = int(address.rsplit(":", 1)[1].split("/", 1)[0])
    if handshake is not None:
        handshake.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
        handshake.flush()
        handshake.close()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
