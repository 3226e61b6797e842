"""Client-side pacing for APIs with a rolling-window rate limit (HubSpot's ten-second window).

The pacer counts its own requests in the current window and waits before the one that would exceed
the limit, so a long push stays under ``max`` per ``interval`` and never sees a 429. A request is
counted from the moment it is sent and, once answered, from the moment its answer arrived (the server
admitted it somewhere in between), so the client's window never runs ahead of the server's. The limit is
learned from ``X-HubSpot-RateLimit-Max`` / ``-Interval-Milliseconds`` on every response;
``-Remaining`` tells about other clients sharing the same token, and a response with nothing
remaining makes the next request wait for the window to turn over.

>>> p = WindowPacer(max_requests=2, interval_s=10.0)
>>> p.delay(now=0.0), p.record(now=0.0), p.delay(now=1.0), p.record(now=1.0), p.delay(now=2.0)
(0.0, 0.0, 0.0, 1.0, 8.0)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from aikit._runtime import LoopLocal

__all__ = ["WindowPacer"]


class WindowPacer:
    """Keep at most ``max_requests`` per rolling ``interval_s`` (updated from response headers).

    Parameters
    ----------
    max_requests : int
        Requests per window before a server tells otherwise (HubSpot's lowest tier: 100).
    interval_s : float
        Window length (HubSpot: 10 s).
    header_prefix : str
        Prefix of the rate-limit headers to learn from.
    """

    def __init__(
        self, max_requests: int = 100, interval_s: float = 10.0, header_prefix: str = "x-hubspot-ratelimit-"
    ) -> None:
        self.max_requests, self.interval_s, self.prefix = max_requests, interval_s, header_prefix
        self._sent: list[float] = []
        self._exhausted_at: float | None = None
        self._locks: LoopLocal[asyncio.Lock] = LoopLocal(asyncio.Lock)  # a lock is bound to its loop
        self.waited_s = 0.0

    def _purge(self, now: float) -> None:
        if self._sent and min(self._sent) <= now - self.interval_s:
            self._sent = [t for t in self._sent if t > now - self.interval_s]

    def delay(self, now: float | None = None) -> float:
        """Seconds to wait before the next request may go out."""
        t = time.monotonic() if now is None else now
        self._purge(t)
        wait = 0.0
        if len(self._sent) >= self.max_requests:
            wait = sorted(self._sent)[len(self._sent) - self.max_requests] + self.interval_s - t
        if self._exhausted_at is not None:
            # The server said nothing remains (other clients share the token): wait for the window.
            oldest = min(self._sent) if self._sent else self._exhausted_at
            wait = max(wait, min(oldest, self._exhausted_at) + self.interval_s - t)
            if wait <= 0:
                self._exhausted_at = None
        return max(0.0, wait)

    def record(self, now: float | None = None) -> float:
        """Count one request sent at ``now``; returns its stamp for :meth:`settle`."""
        stamp = time.monotonic() if now is None else now
        self._sent.append(stamp)
        return stamp

    def settle(self, stamp: float, now: float | None = None) -> None:
        """The request sent at ``stamp`` was answered: count it from ``now`` instead (conservative)."""
        t = time.monotonic() if now is None else now
        for i, s in enumerate(self._sent):
            if s == stamp:
                self._sent[i] = max(s, t)
                return

    def observe(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Learn the window from a response's rate-limit headers (missing headers change nothing)."""
        t = time.monotonic() if now is None else now
        raw_max = headers.get(self.prefix + "max")
        raw_interval = headers.get(self.prefix + "interval-milliseconds")
        raw_remaining = headers.get(self.prefix + "remaining")
        try:
            if raw_max is not None and int(raw_max) > 0:
                self.max_requests = int(raw_max)
            if raw_interval is not None and int(raw_interval) > 0:
                self.interval_s = int(raw_interval) / 1000.0
            if raw_remaining is not None and int(raw_remaining) <= 0:
                self._exhausted_at = t
        except ValueError:
            return

    async def acquire(self) -> float:
        """Wait (on the running loop) until a request may be sent, count it, return its stamp."""
        async with self._locks.get():
            wait = self.delay()
            while wait > 0:
                self.waited_s += wait
                await asyncio.sleep(wait)
                wait = self.delay()
            return self.record()
