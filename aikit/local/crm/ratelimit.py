"""The demo CRM's rate limits: HubSpot's rolling ten-second window, plus the search bucket.

A rolling window admits a request when fewer than ``max_requests`` were admitted in the last
``window_s`` seconds; a refused request is not counted. ``headers()`` gives the
``X-HubSpot-RateLimit-*`` set a real portal sends; ``retry_after()`` says when the oldest admitted
request leaves the window.

>>> w = RollingWindow(2, 10.0)
>>> w.admit(now=0.0), w.admit(now=1.0), w.admit(now=2.0)
(True, True, False)
>>> w.retry_after(now=2.0)
8.0
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from aikit.exceptions import ConfigError

__all__ = ["RATE_LIMIT_BODY", "RollingWindow"]

#: The message HubSpot sends with a 429 from the ten-secondly policy.
RATE_LIMIT_BODY = "You have reached your ten_secondly_rolling limit."


class RollingWindow:
    """A thread-safe rolling-window counter (one per token and policy)."""

    def __init__(self, max_requests: int, window_s: float, *, daily: int = 250_000) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ConfigError(
                f"a rate limit needs at least 1 request per window and a window over 0 s, got "
                f"{max_requests!r} per {window_s!r} s (pass rate_limit=None to turn it off)"
            )
        self.max_requests, self.window_s, self.daily = max_requests, window_s, daily
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.admitted = 0
        self.refused = 0

    def _purge(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def admit(self, now: float | None = None) -> bool:
        """Count the request and return True, or return False when the window is full."""
        t = time.monotonic() if now is None else now
        with self._lock:
            self._purge(t)
            if len(self._times) >= self.max_requests:
                self.refused += 1
                return False
            self._times.append(t)
            self.admitted += 1
            return True

    def remaining(self, now: float | None = None) -> int:
        t = time.monotonic() if now is None else now
        with self._lock:
            self._purge(t)
            return self.max_requests - len(self._times)

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until a slot frees (0 when one is free now)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            self._purge(t)
            if len(self._times) < self.max_requests:
                return 0.0
            return max(0.0, self._times[0] + self.window_s - t)

    def headers(self, now: float | None = None) -> dict[str, str]:
        """HubSpot's ``X-HubSpot-RateLimit-*`` headers for the current state."""
        remaining = self.remaining(now)
        per_second = max(1, math.ceil(self.max_requests / max(self.window_s, 1.0)))
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_s * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.max_requests),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self.admitted)),
            "X-HubSpot-RateLimit-Secondly": str(per_second),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(per_second, remaining)),
        }
