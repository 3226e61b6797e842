"""The fake provider's rate limits: RPM and TPM token buckets and the headers that advertise them.

Each bucket refills continuously at ``limit / 60`` per second and holds ``burst_s`` seconds of rate,
so a client that sends a whole minute's quota at once gets 429s, as with OpenAI's short enforcement
windows. A request needs one request token and its token cost; either bucket short gives a 429 whose
``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` say when both buckets will allow it.

>>> limits = RateLimiter(rpm=60, tpm=None, burst_s=1.0, now=0.0)
>>> limits.admit(10, now=0.0)
(True, 0.0, '')
>>> ok, wait, which = limits.admit(10, now=0.0)
>>> ok, round(wait, 3), which
(False, 1.0, 'requests')
"""

from __future__ import annotations

import math
import time

from aikit.testing.fake_wire import go_duration, rfc3339

__all__ = ["Bucket", "RateLimiter"]


class Bucket:
    """A continuously refilled token bucket of ``per_minute`` with ``burst_s`` seconds of depth."""

    __slots__ = ("capacity", "level", "limit", "rate", "stamp")

    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` (capped at the capacity) is available; 0 if it is now."""
        need = min(cost, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate

    def take(self, cost: float) -> None:
        self.level -= min(cost, self.capacity)

    def until_full(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate)


class RateLimiter:
    """Both buckets of one server; ``None`` for a limit means unlimited."""

    def __init__(
        self, rpm: float | None, tpm: float | None, burst_s: float, now: float | None = None
    ) -> None:
        now = time.monotonic() if now is None else now
        self.requests = Bucket(rpm, burst_s, now) if rpm else None
        self.tokens = Bucket(tpm, burst_s, now) if tpm else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def admit(self, cost: float, now: float | None = None) -> tuple[bool, float, str]:
        """Take one request and ``cost`` tokens if both buckets allow; else (False, wait_s, which)."""
        now = time.monotonic() if now is None else now
        wait_r = wait_t = 0.0
        if self.requests is not None:
            self.requests.refill(now)
            wait_r = self.requests.wait_for(1.0)
        if self.tokens is not None:
            self.tokens.refill(now)
            wait_t = self.tokens.wait_for(cost)
        if wait_r > 0 or wait_t > 0:
            return False, max(wait_r, wait_t), "requests" if wait_r >= wait_t else "tokens"
        if self.requests is not None:
            self.requests.take(1.0)
        if self.tokens is not None:
            self.tokens.take(cost)
        return True, 0.0, ""

    def openai_headers(self) -> list[tuple[bytes, bytes]]:
        """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset in Go duration style)."""
        headers: list[tuple[bytes, bytes]] = []
        for name, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            if bucket is None:
                continue
            headers += [
                (f"x-ratelimit-limit-{name}".encode(), str(int(bucket.limit)).encode()),
                (f"x-ratelimit-remaining-{name}".encode(), str(max(0, int(bucket.level))).encode()),
                (f"x-ratelimit-reset-{name}".encode(), go_duration(bucket.until_full()).encode()),
            ]
        return headers

    def anthropic_headers(self) -> list[tuple[bytes, bytes]]:
        """``anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}`` (RFC 3339)."""
        headers: list[tuple[bytes, bytes]] = []
        wall = time.time()
        names = (("requests", self.requests), ("tokens", self.tokens), ("input-tokens", self.tokens))
        for name, bucket in names:
            if bucket is None:
                continue
            headers += [
                (f"anthropic-ratelimit-{name}-limit".encode(), str(int(bucket.limit)).encode()),
                (f"anthropic-ratelimit-{name}-remaining".encode(), str(max(0, int(bucket.level))).encode()),
                (f"anthropic-ratelimit-{name}-reset".encode(), rfc3339(wall + bucket.until_full()).encode()),
            ]
        return headers


def retry_after_headers(wait_s: float, mode: str) -> list[tuple[bytes, bytes]]:
    """``retry-after`` (whole seconds, rounded up, at least 1) and/or ``retry-after-ms`` per ``mode``."""
    headers: list[tuple[bytes, bytes]] = []
    if mode in ("both", "seconds"):
        headers.append((b"retry-after", str(max(1, math.ceil(wait_s))).encode()))
    if mode in ("both", "ms"):
        headers.append((b"retry-after-ms", str(max(1, math.ceil(wait_s * 1000))).encode()))
    return headers
