"""Waiting for a job: polling with backoff, or woken by a webhook with the poll as a safety net.

- :class:`Poll`: when to ask the provider again (a first delay growing by ``factor`` up to ``max_s``;
  ``Poll.every(30)`` asks every 30 s). With a webhook the poll stretches to ``safety_s``;
- :class:`Wait`: how a job is awaited (the poll, an optional webhook listener and its source, a
  timeout). ``wait=`` of batch mode and :meth:`aikit.AsyncJob.wait` take one, or a shorthand:
  ``True`` (poll with backoff), a number (poll every N seconds), a listener (wake on its ``openai``
  source);
- :func:`wake_hub`: the one handler a job machinery registers on a user's ``WebhookListener`` source
  (duck-typed: anything with ``on(source, event_type)``). It runs on the listener's worker thread for
  each *verified* event (a bad signature is refused with 401 before any handler runs), reads the job
  id the event is about and wakes the waiters of that id on their event loop.

>>> import itertools
>>> list(itertools.islice(Poll(first_s=1, factor=2, max_s=5).delays(), 5))
[1.0, 2.0, 4.0, 5.0, 5.0]
>>> list(itertools.islice(Poll.every(30).delays(), 3))
[30.0, 30.0, 30.0]
>>> Wait.of(30).poll == Poll.every(30), Wait.of(True).listener is None
(True, True)
"""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aikit.exceptions import ConfigError

__all__ = ["Poll", "Wait", "WakeHub", "Waker", "event_job_id", "until", "wake_hub"]

log = logging.getLogger("aikit.jobs")


@dataclass(frozen=True)
class Poll:
    """When to ask the provider again.

    Parameters
    ----------
    first_s : float
        The first delay after a submission or a status check.
    factor : float
        Each delay is the previous one times this (1: a fixed interval).
    max_s : float
        The longest delay between two polls.
    safety_s : float
        With a webhook attached, the delay between polls (a safety net for a lost event).
    """

    first_s: float = 2.0
    factor: float = 1.5
    max_s: float = 60.0
    safety_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("first_s", "max_s", "safety_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
                raise ConfigError(f"Poll.{name} must be a number of seconds > 0, got {value!r}")
        if not self.factor >= 1:
            raise ConfigError(f"Poll.factor must be >= 1, got {self.factor!r}")

    @classmethod
    def every(cls, seconds: float) -> Poll:
        """Poll at a fixed interval."""
        return cls(first_s=float(seconds), factor=1.0, max_s=float(seconds), safety_s=float(seconds))

    def delays(self, webhook: bool = False) -> Iterator[float]:
        """The successive delays (endless)."""
        if webhook:
            while True:
                yield float(self.safety_s)
        delay = float(self.first_s)
        while True:
            yield min(delay, float(self.max_s))
            delay *= self.factor


@dataclass(frozen=True)
class Wait:
    """How a job is awaited: the poll, an optional webhook listener (and its source), a timeout.

    Parameters
    ----------
    poll : Poll
        When to ask the provider.
    listener : WebhookListener, optional
        A running ``aikit.WebhookListener`` with a source receiving the provider's webhooks (for
        OpenAI: ``hook.add_source("openai", scheme="openai", secret="whsec_...")``). Its verified
        ``batch.*`` events wake the wait; the poll becomes a rare safety net.
    source : str
        The listener's source name.
    timeout_s : float, optional
        Stop waiting after this long (the job keeps running; ``JobPendingError``).
    """

    poll: Poll = field(default_factory=Poll)
    listener: Any = None
    source: str = "openai"
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.listener is not None and not callable(getattr(self.listener, "on", None)):
            raise ConfigError(
                "listener must be an aikit.WebhookListener (with .on(source, event_type)), "
                f"got {self.listener!r}"
            )
        timeout = self.timeout_s
        if timeout is not None and not (isinstance(timeout, numbers.Real) and float(timeout) > 0):
            raise ConfigError(f"timeout_s must be a number of seconds > 0 or None, got {self.timeout_s!r}")

    @classmethod
    def of(cls, value: Any) -> Wait:
        """A :class:`Wait` from a shorthand: True, a number of seconds, a listener, a Poll or a Wait."""
        if isinstance(value, Wait):
            return value
        if value is True or value is None:
            return cls()
        if isinstance(value, Poll):
            return cls(poll=value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not (math.isfinite(float(value)) and float(value) > 0):
                raise ConfigError(f"wait= as a number is the poll interval in seconds (> 0), got {value!r}")
            return cls(poll=Poll.every(float(value)))
        if callable(getattr(value, "on", None)):
            return cls(listener=value)
        raise ConfigError(
            "wait must be True, False, a poll interval in seconds, an aikit.WebhookListener, "
            f"an aikit.jobs.Poll or an aikit.jobs.Wait, got {value!r}"
        )

    def replace(self, **changes: Any) -> Wait:
        """A copy with some fields changed."""
        import dataclasses

        return dataclasses.replace(self, **changes)


def event_job_id(payload: Any) -> str | None:
    """The job id an event is about: ``data.id`` (OpenAI's thin events), else ``id``-like fields."""
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return str(data["id"])
    for name in ("job_id", "batch_id", "id"):
        if isinstance(payload.get(name), str):
            return str(payload[name])
    return None


class WakeHub:
    """Waiters by job id, woken by the events of one listener source (thread-safe)."""

    def __init__(self, match: Callable[[Any], str | None] = event_job_id) -> None:
        self.match = match
        self._lock = threading.Lock()
        self._waiters: dict[str, list[Callable[[str | None], None]]] = {}
        #: The last event type seen per job id (a waiter arriving after its event is woken at once).
        self.seen: dict[str, tuple[str | None, float]] = {}
        self.events = 0

    def watch(self, job_id: str, wake: Callable[[str | None], None]) -> Callable[[], None]:
        """Call ``wake(event_type)`` on each event about ``job_id``; returns the function that stops it."""
        with self._lock:
            self._waiters.setdefault(job_id, []).append(wake)

        def unwatch() -> None:
            with self._lock:
                waiters = self._waiters.get(job_id, [])
                if wake in waiters:
                    waiters.remove(wake)
                if not waiters:
                    self._waiters.pop(job_id, None)

        return unwatch

    def handle(self, event: Any) -> dict[str, Any]:
        """The listener's handler: wake the waiters of the job the event names."""
        job_id = self.match(getattr(event, "payload", None))
        event_type = getattr(event, "event_type", None)
        self.events += 1
        if job_id is None:
            return {"job": None, "woke": 0}
        with self._lock:
            self.seen[job_id] = (event_type, time.time())
            waiters = list(self._waiters.get(job_id, ()))
        for wake in waiters:
            try:
                wake(event_type)
            except Exception as exc:  # a closed loop: that waiter is gone
                log.debug("could not wake a waiter of %s: %s", job_id, exc)
        return {"job": job_id, "event": event_type, "woke": len(waiters)}


_hubs: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], WakeHub]] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def wake_hub(listener: Any, source: str, event_type: str = "batch") -> WakeHub:
    """The hub of ``listener``'s ``source`` for events matching ``event_type`` (registered once).

    The listener runs the hub's handler for each verified event of that source whose type matches
    (``"batch"`` matches ``batch.completed``, ``batch.failed``, ``batch.expired``, ``batch.cancelled``).
    """
    sources = getattr(listener, "sources", None)
    if sources is not None and source not in sources:
        raise ConfigError(
            f"the listener has no source {source!r}; add it first, e.g. "
            f'hook.add_source("{source}", scheme="openai", secret=os.environ["OPENAI_WEBHOOK_SECRET"])'
        )
    with _hubs_lock:
        per = _hubs.setdefault(listener, {})
        hub = per.get((source, event_type))
        if hub is None:
            hub = per[(source, event_type)] = WakeHub()

            def aikit_jobs_wake(event: Any) -> dict[str, Any]:
                return hub.handle(event)

            listener.on(source, event_type)(aikit_jobs_wake)
        return hub


class Waker:
    """An ``asyncio.Event`` set by the hub's events about one job id, from any thread."""

    def __init__(self, hub: WakeHub | None, job_ids: list[str]) -> None:
        self.event = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.woken = 0
        self.last_event: str | None = None
        self._unwatch: list[Callable[[], None]] = []
        if hub is not None:
            for job_id in job_ids:
                self._unwatch.append(hub.watch(job_id, self._wake))
                if job_id in hub.seen:  # the event came before this wait started
                    self.event.set()

    def _wake(self, event_type: str | None) -> None:
        def mark() -> None:
            self.woken += 1
            self.last_event = event_type
            self.event.set()

        self.loop.call_soon_threadsafe(mark)

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when an event woke it."""
        try:
            await asyncio.wait_for(self.event.wait(), seconds)
        except TimeoutError:
            return False
        self.event.clear()
        return True

    def close(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []


def until(deadline: float | None) -> float:
    """Seconds left before ``deadline`` (``time.monotonic()`` units), infinite without one."""
    return math.inf if deadline is None else deadline - time.monotonic()
