"""A throwaway local ``redis-server`` for notebooks, tests and benchmarks.

Production deployments point aikit at their own Redis (``REDIS_URL``). For a laptop, a CI job or a
tutorial notebook, :class:`LocalRedis` starts the Debian ``redis-server`` binary on a free
127.0.0.1 port with persistence off, in a private temporary directory, and stops it again.

>>> with LocalRedis.start() as server:  # doctest: +SKIP
...     print(server.url)
redis://127.0.0.1:40123/0
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from aikit.exceptions import ConfigError

__all__ = ["LocalRedis", "find_redis_server", "redis_url_from_env"]

#: How long :meth:`LocalRedis.start` waits for the server to answer PING.
START_TIMEOUT_S = 10.0


def find_redis_server() -> str | None:
    """Path of the ``redis-server`` binary, or None when it is not installed.

    Looks at ``$AIKIT_REDIS_SERVER`` first, then ``PATH``, then ``/usr/bin/redis-server``.
    """
    explicit = os.environ.get("AIKIT_REDIS_SERVER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


def redis_url_from_env() -> str | None:
    """``$REDIS_URL`` (or ``$AIKIT_REDIS_URL``) when set, else None."""
    return os.environ.get("AIKIT_REDIS_URL") or os.environ.get("REDIS_URL") or None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class LocalRedis:
    """A ``redis-server`` child process on 127.0.0.1, without persistence.

    Use :meth:`start` (a context manager too); :meth:`stop` terminates the process and removes its
    directory. The server binds to loopback only and has no password: it is for one machine.

    Attributes
    ----------
    url : str
        ``redis://127.0.0.1:<port>/0``.
    port : int
        The TCP port it listens on.
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
        self._process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._workdir = workdir

    @classmethod
    def start(cls, *, binary: str | None = None, port: int | None = None) -> LocalRedis:
        """Start a server and wait until it answers PING.

        Parameters
        ----------
        binary : str, optional
            Path to ``redis-server``; default :func:`find_redis_server`.
        port : int, optional
            Port to use; default a free one.

        Raises
        ------
        ConfigError
            When ``redis-server`` is not installed or does not come up within 10 s.
        """
        exe = binary or find_redis_server()
        if exe is None:
            raise ConfigError(
                "redis-server is not installed: `sudo apt-get install redis-server` (Debian/Ubuntu), "
                "`brew install redis` (macOS), or set REDIS_URL to an existing Redis"
            )
        workdir = Path(tempfile.mkdtemp(prefix="aikit-redis-"))
        chosen = port or _free_port()
        args = [exe, "--port", str(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(workdir), "--protected-mode", "yes", "--loglevel", "warning"]
        log = (workdir / "redis.log").open("wb")
        try:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        finally:
            log.close()
        server = cls(process, chosen, workdir)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _ping(chosen):
                return server
            time.sleep(0.02)
        tail = (workdir / "redis.log").read_text(errors="replace")[-500:]
        server.stop()
        raise ConfigError(f"redis-server did not start on port {chosen}: {tail.strip() or 'no output'}")

    def alive(self) -> bool:
        """True while the server process runs."""
        return self._process.poll() is None

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and delete its directory."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5.0)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return f"LocalRedis({self.url!r}, {state})"
