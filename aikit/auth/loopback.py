"""The loopback redirect listener for authorization-code logins from a local kernel (RFC 8252 7.3).

:class:`LoopbackRedirect` binds ``127.0.0.1`` on a free port, serves exactly the ``/callback`` path in a
daemon thread, and hands the first redirect URL it receives to :meth:`LoopbackRedirect.wait`. The
browser then shows "you can close this tab". Nothing is printed; the thread stops after one redirect
or on :meth:`close`.

>>> with LoopbackRedirect() as listener:          # doctest: +SKIP
...     listener.redirect_uri
'http://127.0.0.1:53124/callback'
"""

from __future__ import annotations

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aikit.exceptions import AuthError

__all__ = ["LoopbackRedirect"]

_DONE_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>aikit login</title></head>"
    b"<body><h1>Login complete</h1><p>You can close this tab and return to the notebook.</p></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if not self.path.startswith(self.server.path):
            self.send_error(404)
            return
        self.server.results.put(f"http://127.0.0.1:{self.server.server_address[1]}{self.path}")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_DONE_PAGE)))
        self.end_headers()
        self.wfile.write(_DONE_PAGE)

    def log_message(self, format: str, *args: Any) -> None:  # background threads never print
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.path = path
        self.results: queue.Queue[str] = queue.Queue()


class LoopbackRedirect:
    """Listen on ``http://127.0.0.1:<free port>/callback`` for one OAuth redirect."""

    def __init__(self, path: str = "/callback") -> None:
        self._server = _Server(path)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="aikit-oauth-redirect",
            daemon=True,
        )
        self._thread.start()
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def wait(self, timeout: float = 300.0) -> str:
        """Block until the browser is redirected here; return the full redirect URL."""
        try:
            return self._server.results.get(timeout=timeout)
        except queue.Empty:
            raise AuthError(
                f"No login redirect arrived at {self.redirect_uri} within {timeout:.0f}s."
            ) from None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackRedirect({self.redirect_uri!r})"
