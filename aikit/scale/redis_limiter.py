"""RPM and TPM token buckets on Redis, shared by every process and machine using one provider key.

A provider's limits belong to the key (and model), not to a process. When a batch runs on four Dask
workers, each with its own aikit client, the four must draw from one budget or together they send
four times the allowed rate and drown in 429s. :class:`RedisBuckets` keeps both buckets in one Redis
hash and updates them with a Lua script, so every reservation is atomic however many processes ask.
:class:`RedisLimiter` is aikit's :class:`~aikit.client.ratelimit.RateLimiter` (same interface, same
per-process adaptive concurrency) drawing from those shared buckets: ``limiter="redis://..."``.

How a request is paced
----------------------
1. ``reserve(tokens)`` runs the script once: it refills both buckets for the time elapsed (Redis
   ``TIME``, so the clocks of the machines never matter), takes one request and the estimated tokens,
   and returns how long the caller must wait for its slot. Buckets may go negative: a negative level
   is the queue of slots already promised, so each caller gets its own slot and nobody polls.
2. The caller sleeps that long (a duration measured by Redis, slept with the local monotonic clock)
   and sends.
3. ``settle(reservation, actual_tokens)`` corrects the token bucket by the difference between the
   estimate and the usage the provider reported; ``release(reservation)`` refunds a slot that was
   never used (the caller was cancelled while waiting).
4. ``pause(seconds)`` (on a 429 with ``retry-after``) stops every process from starting requests
   until then.

Buckets are a quarter second deep (``burst_s=0.25``; the in-process limiter uses 1 s). Many
workers keep a shared bucket drained, but when they all stall at once (a busy machine, partitions
changing hands) it refills, and the next burst is at most ``burst_s`` of traffic: 0.25 s keeps
every 10-second window within 2.5% of the limit, leaving room for network jitter under 5%. A bucket
Redis has not seen starts with room for one request, so N processes starting together ramp up at
the limit instead of bursting. The state expires after a minute idle. The Redis key is
``aikit:rl:<sha256>`` of provider, normalised base URL, model and a fingerprint of the API key:
never the key itself (:func:`limiter_key`).

>>> limiter = RedisLimiter("redis://127.0.0.1:6379/0", key=limiter_key("openai", None, "sk-..."),
...                        rpm=500, tpm=200_000)  # doctest: +SKIP
>>> permit = await limiter.acquire(tokens=350)  # doctest: +SKIP
>>> limiter.release(permit, actual_tokens=290)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from aikit.client.ratelimit import Permit, RateLimiter
from aikit.exceptions import ConfigError, SharedStateError
from aikit.scale.redis_cache import check_redis_url, mask_redis_url

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.providers.base import RateLimits

__all__ = ["RedisBuckets", "RedisLimiter", "Reservation", "limiter_key", "open_redis_limiter"]

_log = logging.getLogger(__name__)
#: Sentinel token count: ``acquire`` asks the parent class for a concurrency slot only.
_SLOT_ONLY = -1.0
#: Idle time after which Redis forgets a bucket (it would be full again by then anyway).
IDLE_TTL_MS = 60_000
SOCKET_TIMEOUT_S = 10.0
#: A wake-up later than this after its slot takes a fresh slot (smaller delays are event-loop noise).
LATE_S = 0.1
#: How many times one acquire may swap a stale slot for a fresh one.
MAX_RESLOTS = 4

# One script for every operation, so each is a single atomic round trip.
# KEYS[1] bucket hash. ARGV: op, rpm, tpm, burst_s, requests, tokens, seconds.
# Returns {wait_us, r_level_milli, t_level_milli} (integers: Redis truncates Lua numbers).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local rpm, tpm, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local nreq, ntok, secs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local rrate, trate = rpm / 60, tpm / 60
local rcap = math.max(1, rrate * burst)
local tcap = math.max(1, trate * burst)
local st = redis.call('HMGET', KEYS[1], 'r', 't', 'ts', 'pause')
local r, tk, ts, pause = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4]) or 0
if ts == nil then
  local f = math.min(1, 1 / rcap)
  r, tk, ts = rcap * f, tcap * f, now
end
local dt = math.max(0, now - ts)
r = math.min(rcap, r + dt * rrate)
tk = math.min(tcap, tk + dt * trate)
local wait = 0
if op == 'reserve' then
  if rpm > 0 then
    r = r - nreq
    if r < 0 then wait = math.max(wait, -r / rrate) end
  end
  if tpm > 0 then
    tk = tk - ntok
    if tk < 0 then wait = math.max(wait, -tk / trate) end
  end
  if pause > now then wait = math.max(wait, pause - now) end
elseif op == 'settle' then
  tk = math.min(tcap, tk - ntok)
elseif op == 'release' then
  r = math.min(rcap, r + nreq)
  tk = math.min(tcap, tk + ntok)
elseif op == 'pause' then
  pause = math.max(pause, now + secs)
end
local ttl = math.max(IDLE_TTL, math.ceil((pause - now) * 1000) + IDLE_TTL)
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(tk), 'ts', tostring(now),
  'pause', tostring(pause))
redis.call('PEXPIRE', KEYS[1], ttl)
return {math.floor(wait * 1000000), math.floor(r * 1000), math.floor(tk * 1000)}
""".replace("IDLE_TTL", str(IDLE_TTL_MS))
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # Redis names scripts by SHA1


def limiter_key(provider: str, base_url: str | None, api_key: str | None, model: str | None = None) -> str:
    """The Redis key of the buckets shared by everyone using this provider key.

    A sha256 over provider, normalised base URL, model and a sha256 fingerprint of the API key, so
    the key itself never reaches Redis.

    >>> k = limiter_key("openai", "https://API.openai.com/v1/", "sk-secret", "gpt-4o-mini")
    >>> k.startswith("aikit:rl:") and "sk-secret" not in k
    True
    >>> k == limiter_key("openai", "https://api.openai.com/v1", "sk-secret", "gpt-4o-mini")
    True
    """
    from aikit.client.cache import normalize_base_url

    fingerprint = hashlib.sha256((api_key or "").encode()).hexdigest()[:32]
    text = "\x1f".join([provider, normalize_base_url(base_url), model or "", fingerprint])
    return "aikit:rl:" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Reservation:
    """One granted slot of :class:`RedisBuckets`: its reserved tokens and the wait before its start."""

    tokens: int
    wait_s: float


def _check_limit(name: str, value: float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{name} must be a positive number or None (no limit), got {value!r}")
    return float(value)


class RedisBuckets:
    """Requests-per-minute and tokens-per-minute buckets shared through Redis (the pacing part).

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db``.
    key : str
        The bucket's Redis key, normally :func:`limiter_key` of the provider key in use.
    rpm, tpm : float, optional
        Limits; None (or 0) means no limit of that kind. :meth:`set_limits` changes them later
        (for example when learned from ``x-ratelimit-*`` headers).
    burst_s : float
        Bucket depth in seconds of the rate (default 0.25 s).

    Examples
    --------
    >>> buckets = RedisBuckets("redis://127.0.0.1:6379/0", key="aikit:rl:demo", rpm=60)  # doctest: +SKIP
    >>> slot = await buckets.acquire(tokens=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        key: str,
        rpm: float | None = None,
        tpm: float | None = None,
        burst_s: float = 0.25,
    ) -> None:
        self.url = check_redis_url(url)
        if not isinstance(key, str) or not key:
            raise ConfigError(
                "a Redis limiter needs key=, e.g. limiter_key(provider, base_url, api_key, model)"
            )
        if not isinstance(burst_s, int | float) or burst_s <= 0:
            raise ConfigError(f"burst_s must be > 0 seconds, got {burst_s!r}")
        self.key = key
        self.rpm = _check_limit("rpm", rpm)
        self.tpm = _check_limit("tpm", tpm)
        self.burst_s = float(burst_s)
        self._lock = threading.Lock()
        self._sync: redis.Redis | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return (
            f"RedisBuckets({mask_redis_url(self.url)!r}, key={self.key!r}, rpm={self.rpm or None}, "
            f"tpm={self.tpm or None})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.url, self.key, self.rpm, self.tpm, self.burst_s))

    @property
    def limited(self) -> bool:
        """True when at least one of rpm/tpm is set."""
        return self.rpm > 0 or self.tpm > 0

    def set_limits(self, rpm: float | None = None, tpm: float | None = None) -> None:
        """Change the limits (None leaves one unchanged); every later reservation uses them."""
        if rpm is not None:
            self.rpm = _check_limit("rpm", rpm)
        if tpm is not None:
            self.tpm = _check_limit("tpm", tpm)

    async def reserve(self, tokens: int = 0, requests: int = 1) -> Reservation:
        """Take a slot now and return it with the wait (seconds) before it may be used."""
        if not self.limited:
            return Reservation(int(tokens), 0.0)
        wait_us, _, _ = await self._arun("reserve", requests, max(0, int(tokens)), 0.0)
        return Reservation(int(tokens), wait_us / 1e6)

    async def acquire(self, tokens: int = 0) -> Reservation:
        """Reserve a slot for one request of ``tokens`` estimated tokens and wait until it is due.

        If the wait is cancelled, the slot is given back. If this process wakes up late (a busy
        machine, a blocked event loop), a fresh slot is taken, so requests held up together are not
        sent as one burst: what leaves stays within the buckets at the moment it leaves.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        tolerance = LATE_S
        slot = await self.reserve(tokens)
        reslots = 0
        while slot.wait_s > 0:
            due = loop.time() + slot.wait_s
            try:
                await asyncio.sleep(slot.wait_s)
            except asyncio.CancelledError:
                await asyncio.shield(self._release_quietly(slot))
                raise
            if loop.time() - due <= tolerance or reslots >= MAX_RESLOTS:
                break
            # Woke up late: the slot's moment has passed. Take a fresh one from now rather than send
            # with every other late request at once. The missed slot is not given back: its time is
            # gone, as it would be from the provider's own bucket.
            reslots += 1
            slot = await self.reserve(tokens)
        return Reservation(slot.tokens, loop.time() - started)

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Correct the token bucket once the provider reported the real usage."""
        if self.tpm <= 0:
            return
        delta = int(actual_tokens) - reservation.tokens
        if delta:
            await self._arun("settle", 0, delta, 0.0)

    async def release(self, reservation: Reservation) -> None:
        """Give back a slot that was not used."""
        if self.limited:
            await self._arun("release", 1, reservation.tokens, 0.0)

    async def pause(self, seconds: float) -> None:
        """Stop every process sharing this bucket from starting requests for ``seconds``."""
        if seconds > 0:
            await self._arun("pause", 0, 0, float(seconds))

    async def _release_quietly(self, slot: Reservation) -> None:
        try:
            await self.release(slot)
        except SharedStateError:  # pragma: no cover - best effort while being cancelled
            return

    def state(self) -> dict[str, float]:
        """Current bucket levels after refill: ``{"requests": r, "tokens": t}`` (may be negative)."""
        _, r_milli, t_milli = self._run_sync("peek", 0, 0, 0.0)
        return {"requests": r_milli / 1000, "tokens": t_milli / 1000}

    def reset(self) -> None:
        """Forget the shared state (the next reservation starts a fresh bucket)."""
        with self._translate("reset"):
            self._sync_client().delete(self.key)

    def close(self) -> None:
        """Close the sync client and the async clients of running loops."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()
        for loop, aclient in list(self._async.items()):
            if not loop.is_closed() and loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(aclient.aclose(), loop)
                except RuntimeError:  # pragma: no cover - the loop stopped in between
                    continue
        self._async.clear()

    def _args(self, op: str, requests: int, tokens: int, seconds: float) -> list[str]:
        return [
            op,
            repr(self.rpm),
            repr(self.tpm),
            repr(self.burst_s),
            str(requests),
            str(tokens),
            repr(seconds),
        ]

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            raise SharedStateError(
                f"Redis rate limiter {action} failed at {mask_redis_url(self.url)}: {type(exc).__name__}: "
                f"{mask_redis_url(str(exc))}. Is the server running and the URL right?"
            ) from exc

    async def _arun(self, op: str, requests: int, tokens: int, seconds: float) -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
            )
            self._async[loop] = client
        args = self._args(op, requests, tokens, seconds)
        with self._translate(op):
            try:
                out = await client.evalsha(_SCRIPT_SHA, 1, self.key, *args)
            except NoScriptError:
                out = await client.eval(_SCRIPT, 1, self.key, *args)
        return int(out[0]), int(out[1]), int(out[2])

    def _sync_client(self) -> redis.Redis:
        with self._lock:
            if self._sync is None:
                self._sync = redis.Redis.from_url(
                    self.url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
                )
            return self._sync

    def _run_sync(self, op: str, requests: int, tokens: int, seconds: float) -> tuple[int, int, int]:
        client = self._sync_client()
        args = self._args(op, requests, tokens, seconds)
        with self._translate(op):
            try:
                out: Any = client.evalsha(_SCRIPT_SHA, 1, self.key, *args)
            except NoScriptError:
                out = client.eval(_SCRIPT, 1, self.key, *args)
        return int(out[0]), int(out[1]), int(out[2])


def _rebuild(url: str, key: str, rpm: float, tpm: float, burst_s: float) -> RedisBuckets:
    return RedisBuckets(url, key=key, rpm=rpm or None, tpm=tpm or None, burst_s=burst_s)


class RedisLimiter(RateLimiter):
    """aikit's :class:`~aikit.client.ratelimit.RateLimiter` with its RPM/TPM buckets shared through Redis.

    The concurrency control (AIMD on 429/503) stays per process; the buckets, the ``retry-after``
    pause and learned limits are shared by every process using the same ``key``. Same interface as
    the local limiter: ``await acquire(tokens)`` -> :class:`~aikit.client.ratelimit.Permit`,
    ``release(permit, actual_tokens=..., throttled=...)``, ``pause(seconds)``, ``learn(limits)``.
    ``release`` and ``pause`` are sync (as in the parent); their Redis updates run as background
    tasks on the running loop.

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db``.
    key : str
        Bucket key, normally :func:`limiter_key` ``(provider, base_url, api_key, model)``.
    rpm, tpm : float, optional
        Explicit limits; otherwise learned from response headers (when ``learn``).
    burst_s : float
        Bucket depth in seconds (default 0.25 s: see the module docstring).
    max_concurrency, min_concurrency, learn, grow_after
        As for :class:`~aikit.client.ratelimit.RateLimiter`.

    Examples
    --------
    >>> lim = RedisLimiter("redis://127.0.0.1:6379/0", rpm=1200,
    ...                    key=limiter_key("openai", None, "sk-...", "gpt-4o-mini"))  # doctest: +SKIP
    >>> permit = await lim.acquire(tokens=300)  # doctest: +SKIP
    >>> lim.release(permit, actual_tokens=260)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        key: str,
        rpm: float | None = None,
        tpm: float | None = None,
        burst_s: float = 0.25,
        max_concurrency: int = 64,
        min_concurrency: int = 1,
        learn: bool = True,
        grow_after: int = 10,
    ) -> None:
        super().__init__(
            None,
            None,
            max_concurrency=max_concurrency,
            min_concurrency=min_concurrency,
            depth_s=burst_s,
            learn=learn,
            grow_after=grow_after,
        )
        self.shared = RedisBuckets(url, key=key, rpm=rpm, tpm=tpm, burst_s=burst_s)
        self.explicit_rpm, self.explicit_tpm = rpm, tpm
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (
            f"RedisLimiter({mask_redis_url(self.shared.url)!r}, key={self.shared.key!r}, rpm={self.rpm}, "
            f"tpm={self.tpm}, concurrency={int(self.limit)}/{self.max_concurrency}, "
            f"in_flight={self.in_flight})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        s = self.shared
        options = {
            "key": s.key,
            "rpm": self.explicit_rpm,
            "tpm": self.explicit_tpm,
            "burst_s": s.burst_s,
            "max_concurrency": self.max_concurrency,
            "min_concurrency": self.min_concurrency,
            "learn": self.learn_from_headers,
            "grow_after": self.grow_after,
        }
        return (_rebuild_limiter, (s.url, options))

    @property
    def rpm(self) -> float | None:
        return self.shared.rpm or None

    @property
    def tpm(self) -> float | None:
        return self.shared.tpm or None

    def reserve(self, tokens: float, now: float | None = None) -> float:
        """Reserve one request and ``tokens`` on Redis (a blocking round trip); return the wait."""
        local = super().reserve(0.0, now)  # the local retry-after pause only: no local buckets
        if tokens < 0:  # _SLOT_ONLY, from acquire(), which reserves on Redis asynchronously
            return local
        if not self.shared.limited:
            return local
        wait_us, _, _ = self.shared._run_sync("reserve", 1, round(tokens), 0.0)
        return max(local, wait_us / 1e6)

    async def acquire(self, tokens: float = 0.0) -> Permit:
        """Wait for a local concurrency slot, then for this request's slot in the shared buckets."""
        permit = await super().acquire(_SLOT_ONLY)
        try:
            slot = await self.shared.acquire(round(tokens))
        except BaseException:
            self._free_slot()
            raise
        permit.tokens = float(slot.tokens)
        permit.waited_s += slot.wait_s
        return permit

    def release(self, permit: Permit, *, actual_tokens: float | None = None, throttled: bool = False) -> None:
        """Free the slot, adapt the concurrency, and settle the shared token bucket to ``actual_tokens``."""
        if permit.released:
            return
        super().release(permit, actual_tokens=None, throttled=throttled)
        if actual_tokens is not None and self.shared.tpm > 0:
            delta = round(actual_tokens) - round(permit.tokens)
            if delta:
                self._in_background("settle", 0, delta, 0.0)

    def pause(self, seconds: float) -> None:
        """Stop new starts for ``seconds`` here and in every process sharing the buckets."""
        super().pause(seconds)
        if seconds > 0:
            self._in_background("pause", 0, 0, float(seconds))

    def learn(self, limits: RateLimits) -> None:
        """Adopt advertised limits for everyone using the shared buckets.

        An explicit ``rpm``/``tpm`` is a ceiling: a lower advertised limit wins, a higher one does not.
        """
        if not self.learn_from_headers or not limits:
            return
        if limits.rpm and limits.rpm > 0:
            explicit = self.explicit_rpm
            self.shared.set_limits(rpm=limits.rpm if explicit is None else min(explicit, limits.rpm))
        if limits.tpm and limits.tpm > 0:
            explicit = self.explicit_tpm
            self.shared.set_limits(tpm=limits.tpm if explicit is None else min(explicit, limits.tpm))

    async def flush(self) -> None:
        """Wait for the background Redis updates started by ``release``/``pause``."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Close the Redis connections."""
        self.shared.close()

    def _in_background(self, op: str, requests: int, tokens: int, seconds: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            try:
                self.shared._run_sync(op, requests, tokens, seconds)
            except SharedStateError as exc:
                _log.warning("shared rate limiter %s skipped: %s", op, exc)
            return
        task = loop.create_task(self._quietly(op, requests, tokens, seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, op: str, requests: int, tokens: int, seconds: float) -> None:
        try:
            await self.shared._arun(op, requests, tokens, seconds)
        except SharedStateError as exc:
            _log.warning("shared rate limiter %s skipped: %s", op, exc)


def _rebuild_limiter(url: str, options: dict[str, Any]) -> RedisLimiter:
    return RedisLimiter(url, **options)


def open_redis_limiter(
    url: str,
    *,
    provider: str,
    base_url: str | None,
    api_key: str | None,
    model: str | None = None,
    **options: Any,
) -> RedisLimiter:
    """The shared limiter for ``limiter="redis://..."``, keyed by :func:`limiter_key`.

    Examples
    --------
    >>> lim = open_redis_limiter("redis://127.0.0.1:6379/0", provider="openai", base_url=None,
    ...                          api_key="sk-...", model="gpt-4o-mini", rpm=500)  # doctest: +SKIP
    """
    return RedisLimiter(url, key=limiter_key(provider, base_url, api_key, model), **options)
