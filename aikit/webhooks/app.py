"""The listener's ASGI application: HTTP hygiene, verification, durable store, then the answer.

One request, in order:

1. ``POST`` only (anything else: ``405``); ``/hooks/<source>`` only (else ``404``). Never ``410``,
   which tells Standard Webhooks and Svix senders to disable the endpoint.
2. ``503`` with ``Retry-After`` while the handler dispatcher is dead (nothing is acknowledged that
   no handler would ever see; restarting the listener clears it).
3. The source's ``allow=`` list: ``403`` for a client outside it (the peer address, or
   ``X-Forwarded-For`` when the peer is one of ``trusted_proxies=``).
4. Body limit per source (default 1 MiB): ``413`` after draining at most :data:`DRAIN_LIMIT` bytes, so
   the sender reads the answer instead of a broken pipe.
5. Signature check on the raw bytes (:mod:`aikit.webhooks.verify`): any failure is ``401`` with the
   same generic body, and counts against that client's failed-signature budget; handshakes (Slack,
   Zoom) are answered here and store nothing.
6. The source's rate limit, spent only by verified requests (so an unsigned flood cannot use up a
   genuine sender's budget): ``429`` with ``Retry-After``.
7. The events are queued to the store's writer thread; the ``200`` goes out only after their batch
   is committed with ``synchronous=FULL``. A duplicate is also ``200`` (``"duplicate": true``). A
   storage failure, or any unexpected error, is ``503`` with ``Retry-After`` - never ``500``.

Headers and query strings are stored with every value that may carry a credential replaced: the
names are matched by pattern, case-insensitively (``signature``, ``x-webhook-key``, ``x-auth``,
``secret=``, ``password=``, ``sig=``, ``apikey=``, ``client_secret=``, ...), not by a list of names.

The app is plain ASGI (no framework) because it sits on the hot path of the durability benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aikit.exceptions import SignatureError
from aikit.webhooks.sources import Source, client_address
from aikit.webhooks.store import NewEvent, Store
from aikit.webhooks.verify import Accepted, Incoming

__all__ = ["DRAIN_LIMIT", "HookApp", "Rejection", "redact_headers", "redact_query"]

#: The most bytes read from an oversize request before answering 413 and closing.
DRAIN_LIMIT = 4 * 1024 * 1024
#: How long a request waits for its commit before answering 503.
COMMIT_TIMEOUT = 10.0
RETRY_AFTER_503 = "5"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: A header or query parameter whose name matches carries (or may carry) a credential.
SECRET_NAME = re.compile(
    r"(?i)(sig|hmac|auth|cookie|token|secret|passw|pwd|key|credential|session|bearer|jwt|private|otp)"
)
_SECRET_NAMES: dict[str, bool] = {}
_JSON = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class Rejection:
    """A refused request, kept in memory for the notebook view (never the body or headers)."""

    at: float
    source: str
    status: int
    reason: str
    client: str


def redact_headers(headers: dict[str, str], extra: frozenset[str]) -> str:
    """JSON of the headers with every signature, token or credential value replaced.

    >>> redact_headers({"x-hub-signature-256": "sha256=ab", "x-github-event": "push"}, frozenset())
    '{"x-hub-signature-256":"[redacted]","x-github-event":"push"}'
    >>> redact_headers({"X-Webhook-Key": "k", "x-auth": "a"}, frozenset())
    '{"X-Webhook-Key":"[redacted]","x-auth":"[redacted]"}'
    """
    out = {}
    for name, value in headers.items():
        secret = _SECRET_NAMES.get(name)
        if secret is None:
            secret = SECRET_NAME.search(name) is not None
            if len(_SECRET_NAMES) < 4096:  # bounded: header names are attacker-controlled
                _SECRET_NAMES[name] = secret
        out[name] = "[redacted]" if secret or name in extra else value
    return json.dumps(out, separators=(",", ":"))


def redact_query(query: str) -> str:
    """The query string with credential-like parameters blanked (a Jupyter token must never be stored).

    >>> redact_query("token=abc&portal=7&Client_Secret=x&sig=y&password=z&apikey=k")
    'token=[redacted]&portal=7&Client_Secret=[redacted]&sig=[redacted]&password=[redacted]&apikey=[redacted]'
    """
    if not query:
        return ""
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        if SECRET_NAME.search(name.replace("%5F", "_").replace("%5f", "_")):
            parts[i] = f"{name}=[redacted]" if sep else "[redacted]"
    return "&".join(parts)


class HookApp:
    """ASGI callable serving ``POST /hooks/<source>`` for a listener.

    Parameters
    ----------
    store : Store
        The open event store.
    sources : dict
        name -> :class:`Source`, read live (sources added after start are served at once).
    wants_handling : callable
        ``(source, event_type) -> bool``: store the row as ``pending`` (a handler matches) or
        ``received``.
    on_pending : callable
        Called after a commit that stored ``pending`` rows (wakes the handler workers).
    """

    def __init__(
        self,
        store: Store,
        sources: dict[str, Source],
        wants_handling: Callable[[str, str | None], bool],
        on_pending: Callable[[], None] = lambda: None,
        *,
        healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.healthy = healthy
        self.on_pending = on_pending
        self.sources = sources
        self.wants_handling = wants_handling
        self.rejections: deque[Rejection] = deque(maxlen=200)
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            await self._handle(scope, receive, send)
        except Exception:  # never a 500: the sender retries later and nothing was acknowledged
            self.counts["errors"] += 1
            with contextlib.suppress(Exception):  # the response had started or the client left
                await _reply(send, 503, b'{"error":"unavailable"}', retry_after=RETRY_AFTER_503)

    def recent_rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent refused requests (time, source, status, reason, client), newest last."""
        return [
            {
                "at": datetime.fromtimestamp(r.at, UTC),
                "source": r.source,
                "status": r.status,
                "reason": r.reason,
                "client": r.client,
            }
            for r in list(self.rejections)[-limit:]
        ]

    def _reject(self, scope: Scope, source: str, status: int, reason: str, client: str | None = None) -> None:
        if client is None:
            client = str((scope.get("client") or ("", 0))[0])
        self.rejections.append(Rejection(time.time(), source, status, reason, client))
        self.counts[f"rejected_{status}"] += 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            self._reject(scope, "", 405, "method")
            await _reply(send, 405, b'{"error":"method not allowed"}', extra=[(b"allow", b"POST")])
            return
        path: str = scope["path"]
        name = path[len("/hooks/") :].strip("/") if path.startswith("/hooks/") else ""
        src = self.sources.get(name) if name else None
        if src is None:
            self._reject(scope, name, 404, "unknown source")
            await _reply(send, 404, b'{"error":"not found"}')
            return
        if not self.healthy():
            src.counts["unavailable"] += 1
            self._reject(scope, name, 503, "dispatcher dead")
            await _reply(send, 503, b'{"error":"unavailable"}', retry_after=RETRY_AFTER_503)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            key = raw_name.decode("latin-1").lower()
            if key not in headers:
                headers[key] = raw_value.decode("latin-1")
        client = str((scope.get("client") or ("", 0))[0])
        if src.proxies:
            client = client_address(client, headers.get("x-forwarded-for"), src.proxies)
        if src.allow and not src.allowed(client):
            src.counts["forbidden"] += 1
            self._reject(scope, name, 403, "not in allow list", client)
            await _reply(send, 403, b'{"error":"forbidden"}')
            return
        body = await self._read(receive, headers, src.max_body)
        if body is None:
            src.counts["too_large"] += 1
            self._reject(scope, name, 413, "body too large")
            await _reply(send, 413, b'{"error":"payload too large"}', extra=[(b"connection", b"close")])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("127.0.0.1", 0)))
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        url = f"{scope.get('scheme', 'http')}://{host}{raw_path}" + (f"?{query}" if query else "")
        try:
            accepted = src.verifier.verify(Incoming("POST", url, query, headers, body))
        except SignatureError as exc:
            reason = getattr(exc, "reason", "invalid")
            src.counts["rejected"] += 1
            src.counts[f"rejected_{reason}"] += 1
            wait = src.failures.take(client) if src.failures is not None else 0.0
            if wait > 0:  # this address keeps failing: tell it to back off, keep the log bounded
                src.counts["signature_limited"] += 1
                self.counts["rejected_429"] += 1
                await _reply(send, 429, b'{"error":"rate limited"}', retry_after=str(math.ceil(wait)))
                return
            self._reject(scope, name, 401, f"signature {reason}", client)
            await _reply(send, 401, b'{"error":"unauthorized"}')
            return
        if src.limiter is not None:
            wait = src.limiter.take()
            if wait > 0:
                src.counts["rate_limited"] += 1
                self._reject(scope, name, 429, "rate limit", client)
                await _reply(send, 429, b'{"error":"rate limited"}', retry_after=str(math.ceil(wait)))
                return
        if accepted.handshake:
            src.counts["handshakes"] += 1
            assert accepted.reply is not None
            await _reply(send, accepted.reply.status, accepted.reply.body, accepted.reply.content_type)
            return
        rows = self._rows(src, accepted, headers, query)
        try:
            fut = self.store.insert_async(rows)
            timer = asyncio.get_running_loop().call_later(COMMIT_TIMEOUT, _expire, fut)
            try:
                news = await fut
            finally:
                timer.cancel()
        except Exception:
            src.counts["unavailable"] += 1
            self._reject(scope, name, 503, "storage failure")
            await _reply(send, 503, b'{"error":"unavailable"}', retry_after=RETRY_AFTER_503)
            return
        stored = sum(news)
        if stored and any(row.status == "pending" for row in rows):
            self.on_pending()
        src.counts["received"] += 1
        src.counts["stored"] += stored
        src.counts["duplicates"] += len(news) - stored
        if accepted.reply is not None:
            await _reply(send, accepted.reply.status, accepted.reply.body, accepted.reply.content_type)
        elif news and stored == 0:
            await _reply(send, 200, b'{"ok":true,"duplicate":true}')
        else:
            await _reply(send, 200, b'{"ok":true}')

    @staticmethod
    async def _read(receive: Receive, headers: dict[str, str], limit: int) -> bytes | None:
        """The whole body, or None when it exceeds ``limit`` (after a bounded drain)."""
        declared = headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if too_big or size > limit:
                too_big = True
                if size > DRAIN_LIMIT:
                    break
                continue
            chunks.append(chunk)
        if too_big:
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _rows(self, src: Source, accepted: Accepted, headers: dict[str, str], query: str) -> list[NewEvent]:
        now = time.time()
        stored_headers = redact_headers(headers, src.redact)
        stored_query = redact_query(query)
        ctype = headers.get("content-type")
        name, scheme = src.config.name, src.config.scheme
        rows = []
        for ev in accepted.events:
            status = "pending" if self.wants_handling(name, ev.event_type) else "received"
            rows.append(
                NewEvent(
                    name,
                    ev.dedupe_key,
                    ev.event_id,
                    ev.event_type,
                    now,
                    ev.provider_ts,
                    stored_headers,
                    stored_query,
                    ev.body,
                    ctype,
                    scheme,
                    status,
                )
            )
        return rows


def _expire(fut: asyncio.Future[Any]) -> None:
    """The commit did not come back in time: answer 503 (a late commit is deduplicated on retry)."""
    if not fut.done():
        fut.set_exception(TimeoutError("the webhook store did not commit in time"))


async def _reply(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    *,
    retry_after: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = _JSON if content_type == "application/json" else [(b"content-type", content_type.encode())]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
