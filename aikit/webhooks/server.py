"""The listener's HTTP server: uvicorn on its own event loop in a daemon thread.

start -> ready -> stop -> join. :meth:`ServerThread.start` binds the socket itself (so port 0 and
a taken port are answered at once, with a :class:`~aikit.exceptions.WebhookError` naming the port),
then waits until uvicorn is serving. uvloop and httptools are used when installed (the ``serve``
extra). The thread never prints: uvicorn's loggers get a ``NullHandler`` and a start-up failure is
raised in the caller's thread.

>>> async def app(scope, receive, send):
...     await send({"type": "http.response.start", "status": 204, "headers": []})
...     await send({"type": "http.response.body", "body": b""})
>>> server = ServerThread(app)
>>> port = server.start()
>>> import httpx
>>> httpx.post(f"http://127.0.0.1:{port}/").status_code
204
>>> server.stop(); server.running
False
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from aikit._http_limits import HttpLimits, limited_protocol
from aikit.exceptions import WebhookError

__all__ = ["ServerThread"]

log = logging.getLogger("aikit.webhooks")

#: Pending connections the kernel queues before uvicorn accepts them (bursts from 16+ senders).
BACKLOG = 2048


class ServerThread:
    """Serve an ASGI ``app`` on ``host`` from a daemon thread with its own event loop.

    Parameters
    ----------
    app : ASGI callable
        What to serve.
    host : str
        Bind address (the listener keeps 127.0.0.1).
    name : str
        The thread's name.
    limits : HttpLimits
        Per-connection limits (:mod:`aikit._http_limits`); the body limit is left to the app, which
        answers 413 per source after a bounded drain.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        *,
        name: str = "aikit-webhooks",
        limits: HttpLimits | None = None,
    ) -> None:
        self.limits = limits or HttpLimits(max_body=None)
        self.app = app
        self.host = host
        self.name = name
        self.thread: threading.Thread | None = None
        self._server: Any = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, port: int = 0, timeout: float = 15.0) -> int:
        """Bind ``port`` (0: any free one), serve, and return the bound port once uvicorn is ready."""
        sock = self._bind(port)
        bound = int(sock.getsockname()[1])
        self._error = None
        self.thread = threading.Thread(target=self._serve, args=(sock,), name=self.name, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server is not None and self._server.started):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise WebhookError(f"the webhook listener failed to start: {self._error!r}")
            time.sleep(0.005)
        return bound

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit (it finishes the requests in flight) and join the thread."""
        server, thread = self._server, self.thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
        self._server, self.thread = None, None

    def _bind(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise WebhookError(
                f"cannot listen on {self.host}:{port}: {exc.strerror}; pick another port or port=0"
            ) from exc
        return sock

    def _serve(self, sock: socket.socket) -> None:
        try:
            import uvicorn

            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
                logger = logging.getLogger(name)
                if not logger.handlers:
                    logger.addHandler(logging.NullHandler())
            try:
                import uvloop

                loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover - uvloop is in the serve extra
                loop = asyncio.new_event_loop()
            http: Any = limited_protocol(self.limits)
            asyncio.set_event_loop(loop)
            config = uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                lifespan="off",
                http=http,
                backlog=BACKLOG,
                timeout_keep_alive=30,
                timeout_graceful_shutdown=3,
                server_header=False,
                proxy_headers=False,  # X-Forwarded-For is believed per source (trusted_proxies=), never here
            )
            self._server = uvicorn.Server(config)
            loop.run_until_complete(self._server.serve(sockets=[sock]))
            loop.close()
        except BaseException as exc:  # never print from this thread; start() reports it
            self._error = exc
            log.debug("webhook server stopped: %r", exc)
        finally:
            sock.close()
