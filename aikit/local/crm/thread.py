"""Serve an ASGI app on 127.0.0.1 in a background thread: start, ready, stop, join.

A uvicorn ``Server`` runs on its own event loop in a daemon thread (uvicorn installs no signal
handlers off the main thread). The socket is bound before the thread starts, so ``port=0`` gets a
free port that is known at once.

>>> from starlette.applications import Starlette
>>> with AppThread(Starlette()) as server:          # doctest: +SKIP
...     httpx.get(server.url + "/")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from aikit.exceptions import ConfigError

__all__ = ["AppThread", "bind_loopback"]


def bind_loopback(port: int) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:``port`` (0 = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind 127.0.0.1:{port}: {exc}; pick another port") from exc
    return sock


class AppThread:
    """``app`` served by uvicorn in a daemon thread until :meth:`stop`."""

    def __init__(
        self, app: Any, port: int = 0, *, name: str = "aikit-server", start_timeout_s: float = 15.0
    ) -> None:
        self.app, self.port, self.name, self.start_timeout_s = app, port, name, start_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )

    def start(self) -> AppThread:
        """Start serving; return once the server accepts connections (raises if it cannot)."""
        if self.running:
            return self
        sock = bind_loopback(self.port)
        self.port, self._sock = sock.getsockname()[1], sock
        server = uvicorn.Server(self.config())
        self._server = server

        def _run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # surfaced by start(); background threads never print
                self.error = exc

        self._thread = threading.Thread(target=_run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on {self.url}: {self.error!r}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit (lifespan shutdown runs), join the thread, close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server, self._thread, self._sock = None, None, None

    def __enter__(self) -> AppThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
