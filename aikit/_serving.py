"""Serve an ASGI app on a loopback address from a daemon thread: start -> ready -> stop -> join.

The demo CRM, the OAuth demo server and the fake AI provider run this way (in a thread of the
caller, or of the child process behind ``FakeProvider.start_process``); their ``aikit serve ...``
commands start the same thread and :func:`wait_until_interrupted` in the main thread (the offline
LLM is a llama.cpp child process, not an ASGI app). The shape is httpx's ``serve_in_thread`` fixture:

* The socket is bound *and listening* before the thread starts, so ``port=0`` gets a free port that is
  known at once, and a taken port fails at once with :class:`~aikit.exceptions.ConfigError`.
* Loopback only: the host must be a loopback address (``127.0.0.1`` by default).
* uvicorn installs no signal handlers, in any thread: Ctrl-C stays with the notebook kernel or the
  command that owns the process. The server runs on an event loop of its own, made in its thread
  (uvloop when asked for), so the process-wide event loop policy is never touched.
* Every server gets :class:`~aikit._http_limits.HttpLimits` (header count and size 431, request line
  414, body 413, read timeouts for the head and the body 408, a connection cap from the open-file
  limit), so an unauthenticated client cannot make it buffer a 300 MB body or hold every socket;
  ``X-Forwarded-For`` is never believed (uvicorn's ``proxy_headers`` is off).
* :meth:`AppThread.start` returns once uvicorn has started (ASGI lifespan startup included) and a
  request can be served; :meth:`AppThread.stop` runs the lifespan shutdown and joins the thread.

>>> import httpx
>>> from starlette.applications import Starlette
>>> from starlette.responses import PlainTextResponse
>>> from starlette.routing import Route
>>> app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hi"))])
>>> with AppThread(app) as server:
...     httpx.get(server.url + "/").text
'hi'
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator, Mapping
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aikit._http_limits import HttpLimits, limited_protocol
from aikit.exceptions import AIKitError, ConfigError

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "LOOPBACK",
    "AppThread",
    "add_secret_arguments",
    "bind_loopback",
    "secret_argument",
    "wait_until_interrupted",
]

#: The address every aikit server binds unless told another loopback address.
LOOPBACK = "127.0.0.1"


def _loopback_host(host: str) -> str:
    name = LOOPBACK if host == "localhost" else host
    try:
        address = ipaddress.IPv4Address(name)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigError(
            f"aikit's local servers listen on loopback addresses only, not {host!r}; use {LOOPBACK}"
        )
    return name


def bind_loopback(port: int = 0, host: str = LOOPBACK) -> socket.socket:
    """A listening TCP socket on ``host:port`` (a loopback address; port 0 picks a free port).

    Raises
    ------
    ConfigError
        When ``host`` is not a loopback address, or the port is taken or cannot be used.

    Examples
    --------
    >>> sock = bind_loopback(0)
    >>> sock.getsockname()[0], sock.getsockname()[1] > 0
    ('127.0.0.1', True)
    >>> sock.close()
    """
    host = _loopback_host(host)
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
    # it a reply written as headers + body waits ~40 ms for the peer's delayed ACK (Nagle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if sys.platform != "win32":  # on Windows SO_REUSEADDR would let two servers share a port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise ConfigError(
                f"port {port} on {host} is already in use; stop what listens there, pick another "
                "port, or pass port 0 for a free one"
            ) from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def _new_server(config: uvicorn.Config, ready: threading.Event) -> uvicorn.Server:
    """A uvicorn ``Server`` that installs no signal handlers and sets ``ready`` once it has started."""
    server: uvicorn.Server = _server_class()(config, ready)
    return server


@cache
def _server_class() -> Any:
    # Built on first use: uvicorn is an optional dependency (aikit[serve]).
    import uvicorn

    class Server(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
            super().__init__(config)
            self._ready = ready

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the owner of the process handles signals (see wait_until_interrupted)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            self._ready.set()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if self.config.ssl is not None:  # an idle TLS keep-alive peer never answers close_notify:
                for connection in list(self.server_state.connections):  # end those at once, not at timeout
                    cycle = getattr(connection, "cycle", None)
                    transport = getattr(connection, "transport", None)
                    if transport is not None and (cycle is None or cycle.response_complete):
                        transport.abort()
            await super().shutdown(sockets=sockets)

    return Server


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if loop != "asyncio":
        raise ConfigError(f"loop must be 'asyncio' or 'uvloop', got {loop!r}")
    return asyncio.new_event_loop


class AppThread:
    """An ASGI ``app`` served by uvicorn from a daemon thread on a loopback address until :meth:`stop`.

    Parameters
    ----------
    app : ASGI application
        What to serve.
    port : int
        TCP port; 0 picks a free one (read it back from :attr:`port` or :attr:`url` after start).
    host : str
        A loopback address, ``127.0.0.1`` by default; anything else raises ``ConfigError``.
    name : str
        Names the thread (``name-PORT``) and the server in error messages.
    loop : {"asyncio", "uvloop"}
        The event loop of the server thread.
    options : mapping, optional
        More ``uvicorn.Config`` settings (``http="httptools"``, ``timeout_graceful_shutdown=1``, ...).
        The defaults: lifespan on, no access log, warnings and up, aikit's logging left to the host.
    start_timeout_s : float
        How long :meth:`start` waits for the server to be ready.
    error : type of AIKitError
        What :meth:`start` raises when the server fails to start (the owner's own error class, e.g.
        ``CRMError`` for the demo CRM); a port that cannot be bound is always a ``ConfigError``.
    limits : HttpLimits or None
        Per-connection HTTP limits (default :class:`~aikit._http_limits.HttpLimits`); None serves
        without them (only when ``options`` picks the h11 parser, which they do not cover).

    Examples
    --------
    >>> import httpx
    >>> from starlette.applications import Starlette
    >>> server = AppThread(Starlette(), name="example").start()
    >>> httpx.get(server.url + "/nowhere").status_code
    404
    >>> server.stop()
    >>> server.running
    False
    """

    def __init__(
        self,
        app: Any,
        port: int = 0,
        *,
        host: str = LOOPBACK,
        name: str = "aikit-server",
        loop: str = "asyncio",
        options: Mapping[str, Any] | None = None,
        start_timeout_s: float = 15.0,
        error: type[AIKitError] = ConfigError,
        limits: HttpLimits | None = HttpLimits(),  # noqa: B008 - frozen value object
    ) -> None:
        self.app, self.port, self.name = app, port, name
        self.limits = limits
        self.host = _loopback_host(host)
        self.start_timeout_s, self._error_type = start_timeout_s, error
        self._loop_factory = _loop_factory(loop)
        self._options = dict(options or {})
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        #: What ended the server thread with an exception, if anything did.
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"AppThread({self.name!r}, {self.url if self.running else 'stopped'})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop` while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _config(self) -> uvicorn.Config:
        import uvicorn

        settings: dict[str, Any] = {
            "lifespan": "on",
            "log_config": None,  # never reconfigure the host process's logging
            "log_level": "warning",
            "access_log": False,
            "proxy_headers": False,
        }
        settings.update(self._options)
        if self.limits is not None and settings.get("http", "auto") in ("auto", "httptools"):
            settings["http"] = limited_protocol(self.limits)
        return uvicorn.Config(self.app, host=self.host, port=self.port, **settings)

    def start(self) -> AppThread:
        """Bind, start the thread and return once the server is ready (idempotent while running).

        Raises
        ------
        ConfigError
            The port is taken or cannot be bound.
        AIKitError
            The class given as ``error``: the server did not start (lifespan startup failed, or it
            was not ready within ``start_timeout_s``).
        """
        if self.running:
            return self
        sock = bind_loopback(self.port, self.host)
        self.port, self._sock, self.error = sock.getsockname()[1], sock, None
        ready = threading.Event()
        server = _new_server(self._config(), ready)
        self._server = server

        def run() -> None:
            try:
                with asyncio.Runner(loop_factory=self._loop_factory) as runner:
                    runner.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # surfaced by start(); background threads never print
                self.error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(self.start_timeout_s)
        if not server.started or not self._thread.is_alive():
            cause = self.error
            self.stop(timeout=1.0)
            reason = f"{type(cause).__name__}: {cause}" if cause else "it was not ready in time"
            raise self._error_type(
                f"{self.name} did not start on {self.url} ({reason}); the log of the "
                "'uvicorn.error' logger has the details"
            ) from cause
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit (the lifespan shutdown runs), join the thread, close the socket.

        Idempotent. Connections still open after ``timeout`` seconds are cut.
        """
        server, thread, sock = self._server, self._thread, self._sock
        self._server, self._thread, self._sock = None, None, None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(1.0)
        if sock is not None:
            sock.close()

    def __enter__(self) -> AppThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_until_interrupted(alive: Callable[[], bool] = lambda: True, poll_s: float = 0.5) -> None:
    """Block until Ctrl-C or SIGTERM arrives, or ``alive()`` turns False: the ``aikit serve`` loop.

    In the main thread, SIGINT and SIGTERM are caught for the duration (the previous handlers are put
    back), so the caller can stop its server gracefully afterwards. Elsewhere only ``alive`` ends it.

    Examples
    --------
    >>> wait_until_interrupted(alive=lambda: False)   # returns at once: nothing left to wait for
    """
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        while alive() and not stop.wait(poll_s):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_secret_arguments(parser: Any, flag: str, what: str) -> None:
    """Give a CLI server ``FLAG-env VAR`` and ``FLAG-file PATH`` for a secret, never ``FLAG VALUE``.

    A value on the command line is visible to every user of the machine (``ps``) and kept in shell
    history, so ``FLAG VALUE`` is still parsed (hidden) only to be refused by :func:`secret_argument`
    with a message saying what to use instead.

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_secret_arguments(parser, "--token", "the token")
    >>> args = parser.parse_args(["--token-env", "DEMO_TOKEN_VAR"])
    >>> secret_argument(args, "--token", {"DEMO_TOKEN_VAR": "t"})
    't'
    """
    import argparse

    dest = flag.lstrip("-").replace("-", "_")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"{flag}-env", dest=f"{dest}_env", metavar="VAR", help=f"read {what} from this environment variable"
    )
    group.add_argument(
        f"{flag}-file",
        dest=f"{dest}_file",
        metavar="PATH",
        help=f"read {what} from this file (its first line)",
    )
    group.add_argument(flag, dest=f"{dest}_argv", metavar="VALUE", help=argparse.SUPPRESS)


def secret_argument(args: Any, flag: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret named by ``FLAG-env`` or ``FLAG-file`` (None when neither was given).

    Raises
    ------
    ConfigError
        ``FLAG VALUE`` was used, the variable is not set, or the file cannot be read or is empty.
    """
    import os
    from pathlib import Path

    dest = flag.lstrip("-").replace("-", "_")
    if getattr(args, f"{dest}_argv", None) is not None:
        raise ConfigError(
            f"{flag} VALUE would put the secret on the command line, where `ps` and the shell history "
            f"show it to others; use {flag}-env VAR (an environment variable) or {flag}-file PATH"
        )
    variable, path = getattr(args, f"{dest}_env", None), getattr(args, f"{dest}_file", None)
    if variable:
        value = (os.environ if environ is None else environ).get(variable, "").strip()
        if not value:
            raise ConfigError(f"{flag}-env {variable}: that environment variable is not set (or empty)")
        return value
    if path:
        try:
            lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{flag}-file {path}: cannot read it ({type(exc).__name__}: {exc})") from exc
        value = lines[0].strip() if lines else ""
        if not value:
            raise ConfigError(f"{flag}-file {path}: the file is empty")
        return value
    return None
