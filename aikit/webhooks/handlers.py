"""Handler dispatch: stored events go to your functions on worker threads, off the request path.

An event whose source and type match a registered handler is stored as ``pending``. Worker threads
claim it (``processing``), run every matching handler in registration order and mark it ``done``. A
handler that raises leaves the event ``failed`` with a retry time (exponential backoff with full
jitter, :func:`aikit.client.retry.backoff_delay`); after ``max_attempts`` it becomes ``dead`` with the last
error kept. Rows left in ``processing`` by a crash go back to ``pending`` when the listener starts.

Each handler's return value is recorded per event, so a retried event skips the handlers that already
succeeded, a duplicate delivery is never handled again (it is not stored twice), and ``replay`` runs
the handlers again. Expensive work inside a handler, such as an AI call, should go through
:meth:`Event.memo`: its result is stored with the event, so a replay or a retry never pays twice.

>>> matches("ticket", "ticket.creation"), matches("*", None), matches("ticket.creation", "ticket")
(True, True, False)
"""

from __future__ import annotations

import inspect
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from aikit.client.retry import backoff_delay
from aikit.exceptions import WebhookError
from aikit.webhooks.store import Store

__all__ = ["Dispatcher", "Event", "Handler", "matches"]

log = logging.getLogger("aikit.webhooks")


def matches(pattern: str, event_type: str | None) -> bool:
    """``"*"`` matches all; ``"invoice"`` matches ``"invoice"`` and ``"invoice.paid"``."""
    if pattern == "*":
        return True
    if event_type is None:
        return False
    return event_type == pattern or event_type.startswith(pattern + ".")


@dataclass(frozen=True)
class Handler:
    """A registered handler: ``fn(event)`` for events of ``source`` whose type matches ``pattern``."""

    source: str
    pattern: str
    fn: Callable[[Event], Any]
    name: str
    max_attempts: int | None = None


@dataclass
class Event:
    """A stored webhook event as a handler receives it.

    Attributes
    ----------
    id : int
        The store's row id (what ``replay`` and ``events()`` use).
    source, event_type, event_id : str
        Source name, the provider's event type and id (may be None).
    body : bytes
        The exact bytes received (one item's JSON for a HubSpot batch).
    headers : dict
        Request headers with signatures redacted.
    attempt : int
        1 on the first run, 2 on the first retry, ...
    """

    id: int
    source: str
    event_type: str | None
    event_id: str | None
    dedupe_key: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    content_type: str | None
    attempt: int
    _store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def payload(self) -> Any:
        """The body parsed: JSON, or a dict for form-encoded bodies, or the text."""
        return parse_body(self.body, self.content_type)

    def cache_key(self, *parts: str) -> str:
        """A stable key for this event (survives duplicates and replays), e.g. to tag an AI call.

        >>> ev = Event(1, "crm", "t", "7", "id:7", datetime.now(UTC), b"{}", {}, None, 1)
        >>> ev.cache_key("summary")
        'webhook:crm:id:7:summary'
        """
        return ":".join(("webhook", self.source, self.dedupe_key, *parts))

    def memo(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once per event and ``key``; later calls return the stored value.

        Use it around AI calls in handlers so a retry or ``replay`` never pays twice. The value must be
        JSON-serialisable (text, numbers, lists, dicts): memo ``reply.text`` or ``reply.data``.

        Examples
        --------
        >>> @hook.on("crm", "ticket.creation")                                 # doctest: +SKIP
        ... def triage(event):
        ...     text = event.payload["objectId"]
        ...     return event.memo("triage", lambda: ai.chat(f"Triage {text}").text)
        """
        store = self._store
        if store is None:
            return fn(*args, **kwargs)
        stored = store.memo(self.id, key)
        if stored is not None:
            return json.loads(stored)
        value = fn(*args, **kwargs)
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise WebhookError(
                f"event.memo({key!r}) needs a JSON-serialisable value, got {type(value).__name__}; "
                "memo the text or data of an AI reply"
            ) from exc
        store.set_memo(self.id, key, text)
        return value


def parse_body(body: bytes, content_type: str | None) -> Any:
    """JSON if it parses, a form dict for ``x-www-form-urlencoded``, else the decoded text."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    text = body.decode("utf-8", "replace")
    if content_type and "x-www-form-urlencoded" in content_type:
        form = parse_qs(text, keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    return text


class Dispatcher:
    """Worker threads that claim due events from the store and run the matching handlers.

    Parameters
    ----------
    store : Store
        The open event store; all state changes go through its writer.
    workers : int
        Worker threads.
    max_attempts : int
        Runs before an event is ``dead`` (a handler may override it).
    retry_base, retry_cap : float
        Backoff before retry ``n``: uniform in ``[0, min(cap, base * 2**n)]``, at least ``retry_min``.
    redact : callable
        Applied to error text before it is stored (masks the sources' secrets).
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        max_attempts: int = 5,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        retry_min: float = 0.0,
        redact: Callable[[str], str] = lambda s: s,
    ) -> None:
        self.store = store
        self.workers = workers
        self.max_attempts = max_attempts
        self.retry_base, self.retry_cap, self.retry_min = retry_base, retry_cap, retry_min
        self.redact = redact
        self.handlers: list[Handler] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()

    def add(self, handler: Handler) -> None:
        """Register ``handler`` (a second registration under the same name replaces the first)."""
        self.handlers = [h for h in self.handlers if h.name != handler.name] + [handler]
        self.wake()

    def wants(self, source: str, event_type: str | None) -> bool:
        """True when some handler matches (the event is then stored as ``pending``)."""
        return any(h.source == source and matches(h.pattern, event_type) for h in self.handlers)

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        """Events being handled right now."""
        return self._busy

    def start(self) -> None:
        if any(t.is_alive() for t in self._threads):
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, name=f"aikit-webhook-worker-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout`` for running handlers (unfinished rows are recovered)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def replay(self, event: int | str) -> int:
        """Run the handlers of a stored event again (row id, or the provider's event id).

        Recorded handler results are forgotten, memo values kept; returns the row id.
        """
        if not self.store.is_open:
            raise WebhookError("start the listener before replaying (handlers run on its workers)")
        found = self.store.find(event)
        if found is None:
            raise WebhookError(f"no stored event {event!r}")
        rid, source, event_type = found
        if not self.wants(source, event_type):
            raise WebhookError(
                f"no handler matches event {rid} ({source}, {event_type}); register one with "
                f"@hook.on({source!r}, {event_type or '*'!r}) first"
            )
        self.store.requeue(rid)
        self.wake()
        return rid

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no event is pending, processing or due for a retry; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.unsettled() == 0 and self.busy == 0:
                return True
            time.sleep(0.02)
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                row = self._claim() if self.handlers else None
            except Exception as exc:  # the store closed or failed: back off, never print
                log.debug("webhook claim failed: %s", exc)
                row = None
                self._stop.wait(0.5)
            if row is None:
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            with self._lock:
                self._busy += 1
            try:
                self._run(row)
            except Exception as exc:
                log.debug("webhook dispatch failed: %s", exc)
            finally:
                with self._lock:
                    self._busy -= 1

    def _claim(self) -> sqlite3.Row | None:
        handlers = list(self.handlers)
        sources = sorted({h.source for h in handlers})

        def wanted(source: str, event_type: str | None) -> bool:
            return any(h.source == source and matches(h.pattern, event_type) for h in handlers)

        return self.store.claim(sources, wanted)

    def _run(self, row: sqlite3.Row) -> None:
        event = Event(
            id=row["id"],
            source=row["source"],
            event_type=row["event_type"],
            event_id=row["event_id"],
            dedupe_key=row["dedupe_key"],
            received_at=datetime.fromtimestamp(row["received_at"], UTC),
            body=bytes(row["body"]),
            headers=json.loads(row["headers"]),
            content_type=row["content_type"],
            attempt=row["attempts"],
            _store=self.store,
        )
        todo = [h for h in self.handlers if h.source == event.source and matches(h.pattern, event.event_type)]
        done = self.store.handlers_done(event.id)
        error: str | None = None
        limit = self.max_attempts
        for handler in todo:
            if handler.max_attempts is not None:
                limit = min(limit, handler.max_attempts) if limit else handler.max_attempts
            if handler.name in done:
                continue
            try:
                value = _call(handler.fn, event)
            except Exception as exc:
                error = self.redact(f"{handler.name}: {type(exc).__name__}: {exc}")[:2000]
                break
            self.store.record_result(event.id, handler.name, json.dumps(value, default=repr))
        now = time.time()
        if error is None:
            self.store.mark_done(event.id, now)
        elif event.attempt >= limit:
            self.store.mark_dead(event.id, error, now)
        else:
            wait = max(
                self.retry_min, backoff_delay(event.attempt - 1, base=self.retry_base, cap=self.retry_cap)
            )
            self.store.mark_failed(event.id, error, now + wait)


def _call(fn: Callable[[Event], Any], event: Event) -> Any:
    if inspect.iscoroutinefunction(fn):
        from aikit._runtime import run_sync

        return run_sync(fn(event))
    result = fn(event)
    if inspect.iscoroutine(result):
        from aikit._runtime import run_sync

        return run_sync(result)
    return result
