"""Handler dispatch: stored events go to your functions on worker threads, off the request path.

An event whose source and type match a registered handler is stored as ``pending``. A worker thread
claims it (``processing``) and runs every matching handler that is due, in registration order, each
behind the boundary of :func:`~aikit.webhooks.isolation.run_isolated`: whatever one handler raises
(``BaseException`` included) or however long it hangs (``timeout=``), the others still run.

Each handler has its own state on each event, kept in the store (``handler_runs``): ``pending``,
``running`` (committed before its code starts), ``done``, ``failed`` (with the time of its next
attempt) or ``dead``, its attempt count and its last error (a traceback scrubbed of the sources'
secrets). A failed handler is retried on a schedule (default 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, then
dead), each delay scaled by a random jitter so a burst of failures does not retry in lockstep. The
schedule lives in the store, so a kernel restart resumes it where it stood, and a handler registered
after the restart picks up the pending events of its source and type. The event's own status
summarises its handlers: ``done`` when all are, ``failed`` while one waits for a retry, ``dead`` when
one gave up and the rest are done.

If a worker thread itself dies (a bug or a store that cannot be written, never a handler),
:attr:`Dispatcher.state` says so, and the listener answers 503 to new events until it is restarted.

>>> retry_delay((5.0, 30.0), attempt=1, jitter=0.0), retry_delay((5.0, 30.0), attempt=3, jitter=0.0)
(5.0, None)
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aikit.exceptions import ConfigError, WebhookError
from aikit.webhooks.handlers import Event, Handler
from aikit.webhooks.isolation import Outcome, run_isolated
from aikit.webhooks.store import Run, Store

__all__ = ["DEFAULT_RETRY", "DeadLetter", "Dispatcher", "retry_delay"]

log = logging.getLogger("aikit.webhooks")

#: Seconds before retry 1, 2, ...: a handler's 7th failed attempt makes it dead.
DEFAULT_RETRY = (5.0, 30.0, 120.0, 600.0, 3600.0, 21600.0)
_OPEN = ("pending", "running", "failed")


def retry_delay(
    schedule: Sequence[float],
    attempt: int,
    *,
    jitter: float = 0.2,
    max_attempts: int | None = None,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait after failed attempt ``attempt`` (1 = the first run), or None when it was the last.

    The delay is ``schedule[attempt - 1]`` (the last entry repeats when ``max_attempts`` asks for more
    attempts than the schedule lists) times a factor drawn uniformly from ``[1 - jitter, 1 + jitter]``.

    >>> retry_delay((1.0,), attempt=2, jitter=0.0, max_attempts=4)
    1.0
    """
    limit = max_attempts if max_attempts is not None else len(schedule) + 1
    if attempt >= limit or not schedule:
        return None
    base = schedule[min(attempt - 1, len(schedule) - 1)]
    return max(0.0, base * (1.0 + jitter * (2.0 * rng() - 1.0)))


@dataclass(frozen=True)
class DeadLetter:
    """A handler that used up its attempts on an event: what ``on_dead=`` receives."""

    event: Event
    handler: str
    attempts: int
    error: str


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value))


class Dispatcher:
    """Worker threads that claim due events from the store and run the matching handlers.

    Parameters
    ----------
    store : Store
        The open event store; all state changes go through its writer.
    workers : int
        Worker threads.
    retry : sequence of float
        Seconds before each retry (see :data:`DEFAULT_RETRY`).
    max_attempts : int, optional
        Runs of a handler before it is ``dead`` (default ``len(retry) + 1``; a handler's own
        ``max_attempts`` wins).
    jitter : float
        Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    timeout : float or None
        Seconds a handler may run before it is cut off as failed (a handler may override it).
    redact : callable
        Applied to error text before it is stored (masks the sources' secrets).
    prepare : callable, optional
        ``prepare(event) -> Event | None``: the source's filter and transform, run before its handlers
        (None: the event is ``filtered`` and no handler runs).
    on_dead : callable, optional
        Called with a :class:`DeadLetter` each time a handler goes dead (on the worker thread).
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        retry: Sequence[float] = DEFAULT_RETRY,
        max_attempts: int | None = None,
        jitter: float = 0.2,
        timeout: float | None = 60.0,
        redact: Callable[[str], str] = lambda s: s,
        prepare: Callable[[Event], Event | None] | None = None,
        on_dead: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        self.retry = tuple(float(d) for d in retry)
        if any(d < 0 for d in self.retry) or not 0.0 <= jitter <= 1.0:
            raise ConfigError("retry delays must be >= 0 seconds and jitter between 0 and 1")
        if max_attempts is not None and max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        self.store = store
        self.workers = workers
        self.max_attempts = max_attempts
        self.jitter, self.timeout = jitter, timeout
        self.redact, self.prepare, self.on_dead = redact, prepare, on_dead
        self.handlers: list[Handler] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        #: Why a worker thread died, if one did (cleared by :meth:`start`).
        self.died: str | None = None

    def add(self, handler: Handler) -> None:
        """Register ``handler`` (a second registration under the same name replaces the first)."""
        self.handlers = [h for h in self.handlers if h.name != handler.name] + [handler]
        self.wake()

    def wants(self, source: str, event_type: str | None) -> bool:
        """True when some handler matches (the event is then stored as ``pending``)."""
        return any(h.wants(source, event_type) for h in self.handlers)

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        """Events being handled right now."""
        return self._busy

    @property
    def healthy(self) -> bool:
        """False once a worker thread has died (the listener then answers 503 to new events)."""
        return self.died is None

    @property
    def state(self) -> str:
        """``running``, ``stopped`` or ``dead: <why>``."""
        if self.died is not None:
            return f"dead: {self.died}"
        return "running" if any(t.is_alive() for t in self._threads) else "stopped"

    def start(self) -> None:
        if any(t.is_alive() for t in self._threads):
            return
        self._stop.clear()
        self.died = None
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

    def resolve(self, handler: str) -> str:
        """The registered name of ``handler`` (its full ``source:type:function`` name or the function's)."""
        for h in self.handlers:
            if handler in (h.name, h.name.rsplit(":", 1)[-1]):
                return h.name
        raise WebhookError(f"no registered handler is called {handler!r}; registered: {self.names()}")

    def names(self) -> list[str]:
        return [h.name for h in self.handlers]

    def replay(self, events: Sequence[tuple[int, str, str | None]], handler: str | None = None) -> list[int]:
        """Run the handlers (or one ``handler``) of these stored events again; return the row ids.

        ``events`` are ``(row id, source, event_type)`` as :meth:`Store.select` returns them. Recorded
        results and states are forgotten, memo values kept, nothing is stored again.
        """
        if not self.store.is_open:
            raise WebhookError("start the listener before replaying (handlers run on its workers)")
        name = self.resolve(handler) if handler is not None else None
        chosen = [h for h in self.handlers if name is None or h.name == name]
        ids = [rid for rid, source, etype in events if any(h.wants(source, etype) for h in chosen)]
        if events and not ids:
            rid, source, etype = events[0]
            raise WebhookError(
                f"no handler matches event {rid} ({source}, {etype}); register one with "
                f"@hook.on({source!r}, {etype or '*'!r}) first"
            )
        if ids:
            self.store.requeue(ids, name)
            self.wake()
        return ids

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no event is pending, processing or due for a retry; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.unsettled() == 0 and self.busy == 0:
                return True
            if self.died is not None:
                return False
            time.sleep(0.02)
        return False

    def _loop(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # the dispatcher itself failed: say so, never print
            self.died = f"{type(exc).__name__}: {self.redact(str(exc))}"[:500]
            log.error("webhook dispatcher died: %s", self.died)

    def _work(self) -> None:
        while not self._stop.is_set() and self.died is None:
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
            except Exception as exc:  # a store write failed: the row is recovered at the next start
                log.warning("webhook dispatch of event %s failed: %s", row["id"], exc)
            finally:
                with self._lock:
                    self._busy -= 1

    def _claim(self) -> sqlite3.Row | None:
        handlers = list(self.handlers)
        sources = sorted({h.source for h in handlers})

        def wanted(source: str, event_type: str | None) -> bool:
            return any(h.wants(source, event_type) for h in handlers)

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
        todo = [h for h in self.handlers if h.wants(event.source, event.event_type)]
        runs = self.store.runs(event.id)
        now = time.time()
        due = [
            h
            for h in todo
            if h.name not in runs or (runs[h.name].status in _OPEN and runs[h.name].next_at <= now)
        ]
        prepared: Event | None = event
        failure: Outcome | None = None
        if due and self.prepare is not None:
            prepared, failure = self._prepare(event)
            if prepared is None and failure is None:
                self.store.settle(event.id, [], [("filter", "false")], "filtered", 0.0, None)
                return
        changed: list[Run] = []
        results: list[tuple[str, str]] = []
        dead: list[DeadLetter] = []
        for h in due:
            attempt = (runs[h.name].attempts if h.name in runs else 0) + 1
            self.store.start_run(event.id, h.name, attempt)
            this = replace(prepared or event, attempt=attempt)
            timeout = h.timeout if h.timeout is not None else self.timeout
            outcome = failure or run_isolated(h.fn, this, timeout=timeout)
            if outcome.ok:
                changed.append(Run(h.name, "done", attempt, 0.0, None))
                results.append((h.name, _as_json(outcome.value)))
                continue
            error = self.redact(f"{h.name}: {outcome.error}")
            limit = h.max_attempts or self.max_attempts or len(self.retry) + 1
            delay = retry_delay(self.retry, attempt, jitter=self.jitter, max_attempts=limit)
            if delay is None:
                changed.append(Run(h.name, "dead", attempt, 0.0, error))
                dead.append(DeadLetter(this, h.name, attempt, error))
            else:
                changed.append(Run(h.name, "failed", attempt, time.time() + delay, error))
        merged = {**runs, **{r.handler: r for r in changed}}
        states = [merged[h.name] for h in todo if h.name in merged]
        waiting = [r for r in states if r.status in _OPEN]
        errors = "\n".join(r.last_error for r in states if r.status != "done" and r.last_error)
        if waiting:
            status, next_at = "failed", min(r.next_at for r in waiting)
        elif any(r.status == "dead" for r in states):
            status, next_at = "dead", 0.0
        else:
            status, next_at = "done", 0.0
        self.store.settle(event.id, changed, results, status, next_at, errors[-4000:] or None)
        for letter in dead:
            self._notify_dead(letter)

    def _prepare(self, event: Event) -> tuple[Event | None, Outcome | None]:
        """The source's filter and transform, behind the same boundary as a handler."""
        assert self.prepare is not None
        outcome = run_isolated(self.prepare, event, timeout=self.timeout)
        if not outcome.ok:
            return event, Outcome(False, error=f"filter/transform failed: {outcome.error}")
        return outcome.value, None

    def _notify_dead(self, letter: DeadLetter) -> None:
        if self.on_dead is None:
            return
        outcome = run_isolated(self.on_dead, letter, timeout=self.timeout)
        if not outcome.ok:
            log.warning("on_dead for event %s failed: %s", letter.event.id, self.redact(outcome.error or ""))
