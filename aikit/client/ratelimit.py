"""Client-side pacing: RPM and TPM token buckets plus adaptive concurrency.

Under a provider's rate limit the wall time of a batch is set by the limit, not by the client; what
separates clients is how many requests they waste on 429s (and how many rows they lose). So aikit paces
*before* sending:

- **Token buckets about one second deep**, one for requests per minute and one for tokens per minute.
  A request reserves one request and its *estimated* tokens (prompt chars/4 + ``max_tokens``); when the
  answer arrives the reservation settles to the actual usage. Reservations queue in FIFO order (the
  bucket level may go negative; each reservation waits until its share has refilled), so N waiting
  requests start exactly ``1/rate`` apart instead of waking together.
- **Limits** come from the constructor (``rpm=``, ``tpm=``) or are learned from ``x-ratelimit-*`` /
  ``anthropic-ratelimit-*`` headers of real answers; an explicit limit is a ceiling that an advertised
  lower limit overrides. Repeated 429s within a second slow the pace further (:meth:`pause`), for
  servers that advertise nothing or a key shared with other clients.
- **Adaptive concurrency (AIMD)**: the number of requests in flight halves when the caller reports
  ``throttled`` (the client does on 503/529, and on 429 while no rate is known: once paced, a stray 429
  is timing jitter, not too many connections), at most once a second so one burst of rejections counts
  once, and grows by one after every ``grow_after`` clean completions, up to ``max_concurrency``. A 429
  carrying ``retry-after`` also pauses new starts (:meth:`RateLimiter.pause`).
- **Probe first**: while no limit is known (none given, none learned yet), only one request is in
  flight until the first answer arrives (at most ``probe_s``, 1 s), so a batch learns the advertised
  limits from one real answer instead of bursting ``max_concurrency`` requests into a small bucket.

Everything is plain time arithmetic; the only awaitables are ``asyncio.sleep`` and futures of the
caller's running loop, so a limiter may be shared by clients on different loops.

>>> lim = RateLimiter(rpm=120)            # 2 requests/s, bucket of 2
>>> [round(lim.reserve(0, now=0.0), 2) for _ in range(4)]
[0.0, 0.0, 0.5, 1.0]
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.providers.base import RateLimits

__all__ = ["Permit", "RateLimiter", "TokenBucket"]


class TokenBucket:
    """A token bucket of ``rate`` tokens/s and ``capacity`` tokens that allows negative reservations.

    >>> b = TokenBucket(rate=10.0, capacity=10.0, now=0.0)
    >>> b.reserve(10, now=0.0), b.reserve(5, now=0.0)
    (0.0, 0.5)
    """

    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def reserve(self, n: float, now: float) -> float:
        """Take ``n`` tokens now; return how long to wait until they are really available."""
        self._refill(now)
        self.level -= n
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def give_back(self, n: float, now: float) -> None:
        """Return ``n`` tokens (negative ``n`` charges more), e.g. settling an estimate to actual use."""
        self._refill(now)
        self.level = min(self.capacity, self.level + n)

    def drain(self, now: float) -> None:
        """Empty the bucket (a 429 says the server's bucket is empty, whatever ours believed)."""
        self._refill(now)
        self.level = min(self.level, 0.0)

    def set_rate(self, rate: float, depth_s: float, now: float) -> None:
        self._refill(now)
        self.rate = rate
        self.capacity = max(1.0, rate * depth_s)
        self.level = min(self.level, self.capacity)


@dataclass(slots=True)
class Permit:
    """One granted start: what it reserved and how long it waited for it."""

    tokens: float
    waited_s: float
    released: bool = False
    #: Set by the caller before ``release`` when the attempt succeeded.
    ok: bool = False


class RateLimiter:
    """Paces requests to RPM/TPM limits with adaptive concurrency.

    Parameters
    ----------
    rpm, tpm : float, optional
        Requests and tokens per minute. None: unlimited until learned from response headers.
    max_concurrency : int
        Ceiling (and starting value) of requests in flight.
    min_concurrency : int
        Floor of the adaptive concurrency.
    depth_s : float
        Bucket depth in seconds of the rate (1 s: the burst the provider tolerates).
    learn : bool
        Adopt limits advertised in headers when no explicit limit was given.
    grow_after : int
        Clean completions needed to raise the concurrency by one.
    probe_s : float
        With no known limit, the longest time only one request is in flight (0: no probing).

    Examples
    --------
    >>> import asyncio
    >>> async def one():
    ...     lim = RateLimiter(rpm=600, tpm=100_000)
    ...     permit = await lim.acquire(tokens=500)
    ...     lim.release(permit, actual_tokens=420)
    ...     return lim.in_flight
    >>> asyncio.run(one())
    0
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        max_concurrency: int = 64,
        min_concurrency: int = 1,
        depth_s: float = 1.0,
        learn: bool = True,
        grow_after: int = 10,
        probe_s: float = 1.0,
    ) -> None:
        if max_concurrency < 1 or min_concurrency < 1 or min_concurrency > max_concurrency:
            from aikit.exceptions import ConfigError

            raise ConfigError("need 1 <= min_concurrency <= max_concurrency")
        now = time.monotonic()
        self.depth_s = depth_s
        self.explicit_rpm, self.explicit_tpm = rpm, tpm
        self.learn_from_headers = learn
        self._rpm = self._bucket(rpm, now)
        self._tpm = self._bucket(tpm, now)
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.limit = float(max_concurrency)
        self.in_flight = 0
        self.grow_after = grow_after
        self._clean = 0
        self._last_decrease = -1e9
        self._blocked_until = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._lock = threading.Lock()
        self.throttled = 0
        self._probing = learn and rpm is None and tpm is None and probe_s > 0
        self.probe_s = probe_s
        self._probe_timer: asyncio.TimerHandle | None = None
        #: Fraction of the nominal request rate paced to (below 1 after repeated 429s, see pause()).
        self.rate_scale = 1.0
        self._epoch = 0  # bumped whenever the pace goes down
        self._changed_at, self._stretch = 0.0, 1.0
        self._recent_pauses: deque[float] = deque()
        self._last_slowdown = -1e9  # no slowdown before this time (set after a learned correction)
        self._hot_second = -2  # the last whole second with three or more rejections

    def __repr__(self) -> str:
        return (
            f"RateLimiter(rpm={self.rpm}, tpm={self.tpm}, concurrency={int(self.limit)}/"
            f"{self.max_concurrency}, in_flight={self.in_flight})"
        )

    def _bucket(
        self, per_minute: float | None, now: float, remaining: float | None = None
    ) -> TokenBucket | None:
        if per_minute is None:
            return None
        if per_minute <= 0:
            from aikit.exceptions import ConfigError

            raise ConfigError(f"rate limits must be positive, got {per_minute}")
        rate = per_minute / 60.0
        bucket = TokenBucket(rate, max(1.0, rate * self.depth_s), now)
        if remaining is not None:  # a limit learned mid-stream: start from what the server has left
            bucket.level = min(bucket.level, remaining)
        return bucket

    @property
    def rpm(self) -> float | None:
        """Requests per minute paced to (None: unlimited so far)."""
        return None if self._rpm is None else round(self._rpm.rate * 60.0, 6)

    @property
    def tpm(self) -> float | None:
        """Tokens per minute paced to (None: unlimited so far)."""
        return None if self._tpm is None else round(self._tpm.rate * 60.0, 6)

    # -- pacing ---------------------------------------------------------------------------------------
    def reserve(self, tokens: float, now: float | None = None) -> float:
        """Reserve one request and ``tokens``; return the wait before it may start (no concurrency)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            wait = self._blocked_until - now
            if self._rpm is not None:
                wait = max(wait, self._rpm.reserve(1.0 / self.rate_scale, now))
            if self._tpm is not None and tokens > 0:
                wait = max(wait, self._tpm.reserve(tokens, now))
        return max(0.0, wait)

    async def acquire(self, tokens: float = 0.0) -> Permit:
        """Wait for a concurrency slot, then for the buckets; the caller must :meth:`release` it."""
        with self._lock:
            free = self.in_flight < self._cap() and not self._waiters
            if free:
                self.in_flight += 1
            else:
                loop = asyncio.get_running_loop()
                fut: asyncio.Future[None] = loop.create_future()
                self._waiters.append(fut)
                if self._probing and self._probe_timer is None:  # a hung first answer must not stall all
                    self._probe_timer = loop.call_later(self.probe_s, self._end_probe)
        t0 = time.monotonic()
        if not free:
            try:
                await fut
            except BaseException:
                with self._lock:
                    if fut.done() and not fut.cancelled():
                        self.in_flight -= 1  # we were granted a slot just as we were cancelled
                        self._wake()
                    elif fut in self._waiters:
                        self._waiters.remove(fut)
                raise
        try:
            epoch = self._epoch
            wait = self.reserve(tokens)
            start_at = time.monotonic() + wait
            for _ in range(8):
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
                if self._epoch == epoch:
                    break
                # The pace went down while we waited (a lower advertised limit, repeated 429s): the
                # rest of the queue stretches by the same factor, keeping its order and spacing.
                epoch, changed_at, factor = self._epoch, self._changed_at, self._stretch
                if start_at > changed_at:
                    start_at = changed_at + (start_at - changed_at) * factor
                wait = start_at - time.monotonic()
        except BaseException:
            self._free_slot()
            raise
        return Permit(tokens=tokens, waited_s=time.monotonic() - t0)

    def _slowed(self, factor: float, now: float) -> None:
        """Record that the pace went down by ``factor`` now (called with the lock held)."""
        self._epoch += 1
        self._changed_at, self._stretch = now, factor

    def release(self, permit: Permit, *, actual_tokens: float | None = None, throttled: bool = False) -> None:
        """Give the slot back; settle the token reservation; adapt the concurrency.

        ``throttled`` (a 429/503) halves the concurrency, at most once a second; any other outcome
        counts towards growing it again. A permit marked ``ok`` (a success) lets a slowed-down pace
        recover.
        """
        if permit.released:
            return
        permit.released = True
        now = time.monotonic()
        self._probing = False
        with self._lock:
            if self._tpm is not None and actual_tokens is not None:
                self._tpm.give_back(permit.tokens - actual_tokens, now)
            if throttled:
                self.throttled += 1
                self._clean = 0
                if now - self._last_decrease >= 1.0:
                    self._last_decrease = now
                    self.limit = max(float(self.min_concurrency), self.limit / 2.0)
            else:
                if permit.ok and self.rate_scale < 1.0:
                    self.rate_scale = min(1.0, self.rate_scale + 0.002)
                if self.limit < self.max_concurrency:
                    self._clean += 1
                    if self._clean >= self.grow_after:
                        self._clean = 0
                        self.limit = min(float(self.max_concurrency), self.limit + 1.0)
        self._free_slot()

    def _free_slot(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self._wake()

    def _wake(self) -> None:
        # called with the lock held
        while self._waiters and self.in_flight < self._cap():
            fut = self._waiters.popleft()
            if fut.done():
                continue
            self.in_flight += 1
            loop = fut.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                fut.set_result(None)
            else:
                loop.call_soon_threadsafe(_grant, fut, self)

    def _end_probe(self) -> None:
        with self._lock:
            self._probing = False
            self._wake()

    def _cap(self) -> int:
        """Requests allowed in flight now (one while probing for unknown limits)."""
        if self._probing and self.rpm is None and self.tpm is None:
            return 1
        return int(self.limit)

    def binding(self, tokens: float = 0.0, now: float | None = None) -> bool:
        """Whether a request reserved now would have to wait: others queue, a pause runs, a bucket is empty.

        A hedged request is only worth sending when it is not (its start would be taken from a row).

        >>> lim = RateLimiter(rpm=60)           # 1 request/s, a bucket of 1
        >>> lim.binding(now=0.0), lim.reserve(0, now=0.0), lim.binding(now=0.5)
        (False, 0.0, True)
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._waiters or self._blocked_until > now:
                return True
            for bucket, need in ((self._rpm, 1.0 / self.rate_scale), (self._tpm, tokens)):
                if bucket is not None:
                    bucket._refill(now)
                    if bucket.level < need:
                        return True
        return False

    @property
    def paced(self) -> bool:
        """True once a request or token rate is known (given or learned)."""
        return self.rpm is not None or self.tpm is not None

    def pause(self, seconds: float) -> None:
        """No new request starts for ``seconds`` (a 429's retry-after); the RPM bucket is drained.

        Rejections that go on while paced mean the pace is wrong (a limit given too high, a key shared
        with other clients, a server that advertises nothing): see :meth:`_rejected`.
        """
        now = time.monotonic()
        with self._lock:
            self._blocked_until = max(self._blocked_until, now + seconds)
            if self._rpm is not None:
                self._rpm.drain(now)
                self._rejected(now)

    def _rejected(self, now: float) -> None:
        """Count a rejection; slow the pace when two seconds in a row each saw three or more.

        One burst of rejections (a start-up race) is one event and changes nothing. The pace slows to
        70% per persistent second (down to 25% of the nominal rate) and recovers by 0.2% per success.
        Called with the lock held.
        """
        recent = self._recent_pauses
        recent.append(now)
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        if len(recent) < 3:
            return
        second = int(now)
        persistent = self._hot_second == second - 1
        if second != self._hot_second:
            self._hot_second = second
            if persistent and now >= self._last_slowdown and self.rate_scale > 0.25:
                old, self.rate_scale = self.rate_scale, max(0.25, self.rate_scale * 0.7)
                self._slowed(old / self.rate_scale, now)

    # -- learning -------------------------------------------------------------------------------------
    def learn(self, limits: RateLimits) -> None:
        """Adopt the per-minute limits a server advertises.

        A limit not given explicitly follows the advertised one; an explicit limit is a ceiling, so it
        is lowered when the server advertises less (never raised). A bucket created from headers starts
        at the advertised ``remaining`` (when lower than its capacity), so the requests right after the
        first answer do not overrun the server's bucket.
        """
        if not self.learn_from_headers or not limits:
            return
        now = time.monotonic()
        with self._lock:
            self._rpm = self._adopt(self._rpm, self.explicit_rpm, limits.rpm, limits.requests_remaining, now)
            self._tpm = self._adopt(self._tpm, self.explicit_tpm, limits.tpm, limits.tokens_remaining, now)

    def _adopt(
        self,
        bucket: TokenBucket | None,
        explicit: float | None,
        advertised: float | None,
        remaining: float | None,
        now: float,
    ) -> TokenBucket | None:
        if not advertised or advertised <= 0:
            return bucket
        target = advertised if explicit is None else min(explicit, advertised)
        if bucket is None:
            return self._bucket(target, now, remaining)
        if abs(bucket.rate * 60.0 - target) > 1e-9:
            if target < bucket.rate * 60.0:
                self._slowed(bucket.rate * 60.0 / target, now)  # queued requests stretch (see acquire)
                # the 429s of requests sent at the old pace are explained: no extra slowdown for them
                self.rate_scale = 1.0
                self._last_slowdown = now + 1.0
            bucket.set_rate(target / 60.0, self.depth_s, now)
        return bucket


def _grant(fut: asyncio.Future[None], limiter: RateLimiter) -> None:
    if fut.cancelled():
        limiter._free_slot()
    elif not fut.done():
        fut.set_result(None)
