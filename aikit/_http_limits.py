"""HTTP limits for every server aikit embeds: what a hostile client on the socket cannot make it do.

uvicorn's httptools protocol accepts headers of any size (a 200 MiB header took a listener from
33 MB to a 428 MB peak before its 401), waits forever for a request that never completes, and keeps
every idle socket open until the process runs out of file descriptors (with ``ulimit -n 256``, 300
idle sockets locked genuine senders out). :func:`limited_protocol` returns a subclass of that
protocol that enforces :class:`HttpLimits` as the bytes arrive, before the application sees the
request:

* request line longer than ``max_request_line`` -> ``414``; more than ``max_headers`` headers, or
  more than ``max_header_bytes`` before the end of the headers -> ``431``; a declared or streamed body
  over ``max_body`` -> ``413``. The connection is closed after the answer, and at most one read
  chunk (64 KiB) past the limit is ever held.
* a request whose headers are not complete ``header_timeout`` seconds after its connection opened
  (or after its first byte, on a kept-alive connection) -> ``408`` and close; a silent connection is
  just closed. A body not complete ``body_timeout`` seconds after its headers -> ``408`` and close.
* at most ``max_connections`` connections (default: what the open-file limit leaves, see
  :meth:`HttpLimits.connection_cap`). At the cap, a new connection evicts the oldest one that has not
  sent a complete request head yet (never-served ones first, then idle kept-alive ones); if every
  connection is busy with a request, the new one gets ``503`` and is closed. So idle or slow sockets
  cannot hold every descriptor, and ``accept`` never fails with ``EMFILE`` under them.

The AppThread of :mod:`aikit._serving` (demo CRM, OAuth demo server, Salesforce demo org, fake
provider) and the webhook listener's server use it.

>>> HttpLimits().max_header_bytes, HttpLimits(header_timeout=1).header_timeout
(65536, 1)
>>> HttpLimits(max_headers=0)
Traceback (most recent call last):
aikit.exceptions.ConfigError: HttpLimits: every limit must be positive (max_headers=0)
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from aikit.exceptions import AIKitError, ConfigError

__all__ = ["HttpLimits", "limited_protocol", "raise_open_file_limit"]

MiB = 1024 * 1024
_REASONS = {
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit (servers need descriptors; the
    default soft limit is often 1024 or less) and return the soft limit now in force."""
    if sys.platform == "win32":  # pragma: no cover - no RLIMIT_NOFILE
        return 8192
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return int(soft if soft != resource.RLIM_INFINITY else 65536)


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return 64


@dataclass(frozen=True)
class HttpLimits:
    """Per-connection limits of an embedded HTTP server (see the module docstring).

    Parameters
    ----------
    max_header_bytes : int
        Bytes of request line plus headers (431 above it).
    max_headers : int
        Header fields (431 above it).
    max_request_line : int
        Bytes of the request target (414 above it).
    max_body : int or None
        Body bytes (413 above it); None leaves the body to the application (the webhook listener
        answers 413 per source, after a bounded drain).
    header_timeout, body_timeout : float
        Seconds for the request head, then for the body (408 and close).
    max_connections : int, optional
        Open connections at most; default :meth:`connection_cap` at server start.
    """

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_request_line: int = 8 * 1024
    max_body: int | None = 64 * MiB
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value <= 0:
                raise ConfigError(f"HttpLimits: every limit must be positive ({f.name}={value})")

    def connection_cap(self) -> int:
        """``max_connections``, or 90% of the descriptors the open-file limit leaves free (after
        raising the soft limit to the hard one), keeping 32 for the store, logs and clients."""
        if self.max_connections is not None:
            return self.max_connections
        free = raise_open_file_limit() - _open_files() - 32
        return max(8, min(16384, int(free * 0.9)))


class _Refused(AIKitError):
    """Raised inside a parser callback to stop parsing a request that broke a limit (never leaves
    the protocol: httptools turns it into a parser error, answered with the limit's status)."""


def limited_protocol(limits: HttpLimits) -> type[Any]:
    """A uvicorn httptools protocol class enforcing ``limits`` (one connection registry per call)."""
    base = _httptools_protocol()
    cap = limits.connection_cap()
    fresh: OrderedDict[Any, None] = OrderedDict()  # connected, no request head yet, never served
    kept: OrderedDict[Any, None] = OrderedDict()  # served before, waiting for the next request head

    class LimitedHttpToolsProtocol(base):  # type: ignore[misc, valid-type]
        """uvicorn's httptools protocol with aikit's :class:`HttpLimits` enforced."""

        http_limits = limits
        connection_cap = cap

        def connection_made(self, transport: Any) -> None:
            self._head, self._body, self._served = 0, 0, 0
            self._refused, self._status = False, 0
            self._timer: Any = None
            super().connection_made(transport)
            if len(self.connections) > cap:
                victim = next(iter(fresh), None) or next(iter(kept), None)
                if victim is None:
                    self._refuse(503)
                    return
                victim._drop()
            fresh[self] = None
            self._arm(limits.header_timeout)  # a silent connection is closed after it

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            fresh.pop(self, None)
            kept.pop(self, None)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._head < 0 and (self.cycle is None or self.cycle.response_complete):
                self._head = 0  # the first bytes of the next request on a kept-alive connection
            if self._head >= 0:
                self._head += len(data)
            self._feed(data)
            if self._refused:
                return
            if self._status:
                self._refuse(self._status)
            elif self._head > limits.max_header_bytes:  # still no end of the head: a huge header
                self._refuse(431)
            elif self._timer is None:  # armed only when a request spans reads (never on the fast path)
                if self._head > 0:
                    self._arm(limits.header_timeout)
                elif self._head < 0 and self.cycle is not None and self.cycle.more_body:
                    self._arm(limits.body_timeout)

        def _feed(self, data: bytes) -> None:
            """uvicorn's ``data_received``, except that a request refused by a limit is answered with
            its status (not logged as an invalid request and answered 400)."""
            import httptools

            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
            except httptools.HttpParserError:
                if self._status:
                    self._refuse(self._status)
                    return
                self.logger.debug("invalid HTTP request received")
                self.send_400_response("Invalid HTTP request received.")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head < 0:  # a new request head on a kept-alive connection
                self._head = 0
            fresh.pop(self, None)
            kept.pop(self, None)

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            if len(self.url) > limits.max_request_line:
                self._stop(414)

        def on_headers_complete(self) -> None:
            size, declared = len(self.url), b""
            for name, value in self.headers:  # one pass: the head's size and its Content-Length
                size += len(name) + len(value) + 4
                if name == b"content-length":
                    declared = value
            if len(self.headers) > limits.max_headers or size > limits.max_header_bytes:
                self._stop(431)
            if limits.max_body is not None and declared.isdigit() and int(declared) > limits.max_body:
                self._stop(413)
            self._head, self._body = -1, 0
            self._disarm()  # the head's timer; a body timer is armed after this read if one is due
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._body += len(body)
            if limits.max_body is not None and self._body > limits.max_body:
                self._stop(413)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._served += 1
            super().on_response_complete()
            if not self.transport.is_closing() and not self._refused:
                kept[self] = None

        def _stop(self, status: int) -> None:
            self._status = status
            raise _Refused(status)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            if self._refused or self.transport.is_closing():
                return
            started = self.cycle is not None and not self.cycle.response_complete
            if self._head > 0 or (started and not self.cycle.response_started):
                self._refuse(408)  # part of a request arrived, too slowly
            elif started:
                self._drop()  # the answer has begun: all that is left is to cut the connection
            else:
                self._drop()  # silent since it connected (or since its last answer)

        def _drop(self) -> None:
            self._refused = True
            self._disarm()
            fresh.pop(self, None)
            kept.pop(self, None)
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()

        def _refuse(self, status: int) -> None:
            body = b'{"error":"%s"}' % _REASONS[status].lower()
            head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
                status,
                _REASONS[status],
                len(body),
            )
            if status == 503:
                head += b"retry-after: 1\r\n"
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(head + b"connection: close\r\n\r\n" + body)
            self._drop()

    return LimitedHttpToolsProtocol


@cache
def _httptools_protocol() -> type[Any]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol
