"""The shared RPM/TPM limiter against a real redis-server, across real processes."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import time

import pytest
import redis

from aikit._runtime import run_sync
from aikit.client.providers.base import RateLimits
from aikit.client.ratelimit import RateLimiter
from aikit.exceptions import ConfigError, SharedStateError
from aikit.scale.redis_limiter import RedisBuckets, RedisLimiter, limiter_key, open_redis_limiter

pytestmark = pytest.mark.redis

CANARY = "sk-canary-limiter-1b2c3d4e"

# Each child process takes `n` permits from the shared limiter and prints their start times.
_CHILD = """
import asyncio, json, sys, time
from aikit.client.ratelimit import RateLimiter
from aikit.scale.redis_limiter import RedisLimiter
url, key, rpm, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
start_at, shared = float(sys.argv[5]), sys.argv[6] == "shared"

async def main():
    if shared:
        lim = RedisLimiter(url, key=key, rpm=rpm, max_concurrency=8)
    else:
        lim = RateLimiter(rpm=rpm, max_concurrency=8)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    times = []
    async def one():
        permit = await lim.acquire(0)
        times.append(time.time())
        lim.release(permit)
    await asyncio.gather(*(one() for _ in range(n)))
    if shared:
        await lim.flush()
        lim.close()
    return times

print(json.dumps(asyncio.run(main())))
"""


def _race(redis_url: str, key: str, rpm: float, per_process: int, processes: int, mode: str) -> list[float]:
    """Start ``processes`` children that take permits at the same instant; all start times, sorted."""
    start_at = time.time() + 1.5  # let every interpreter start before the race begins
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, redis_url, key, str(rpm), str(per_process), str(start_at), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    times: list[float] = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        times += json.loads(out)
    return sorted(times)


def _early(times: list[float], rate: float) -> list[int]:
    """Indexes of starts ahead of a single shared schedule (k-th start >= k/rate after the first)."""
    return [k for k in range(len(times)) if times[k] - times[0] < k / rate - 0.015]


def test_processes_together_stay_within_the_shared_rpm(redis_url: str) -> None:
    rpm, per_process, processes = 3000.0, 40, 3  # 50 requests/s; 120 requests take ~2.4 s
    rate = rpm / 60
    key = limiter_key("compat", "http://127.0.0.1:9/v1", CANARY, "m")
    times = _race(redis_url, key, rpm, per_process, processes, "shared")
    n = len(times)
    assert n == per_process * processes
    # The k-th start across all processes is never earlier than k/rate after the first (fresh bucket
    # holds one request), allowing 15 ms for scheduling noise...
    early = _early(times, rate)
    assert not early, f"starts ahead of the shared schedule: {early[:5]}"
    # ...and the limiter does not waste the budget: all done close to the optimum.
    span = times[-1] - times[0]
    assert span <= (n - 1) / rate + 0.6, span
    # No 1-second window holds more than the rate plus the bucket.
    for i in range(n):
        j = i
        while j < n and times[j] - times[i] < 1.0:
            j += 1
        assert j - i <= rate + 1 + 1, (i, j - i)
    # The API key is in no Redis key or value.
    raw = redis.Redis.from_url(redis_url)
    for name in raw.scan_iter("*"):
        assert CANARY.encode() not in name
        assert CANARY.encode() not in b"".join(raw.hgetall(name).values())
    assert CANARY not in key


def test_control_processes_with_local_limiters_overshoot_together(redis_url: str) -> None:
    """The same race with one in-process limiter per process: the check above does catch it."""
    rpm, per_process, processes = 3000.0, 40, 3
    times = _race(redis_url, "unused", rpm, per_process, processes, "local")
    assert len(_early(times, rpm / 60)) > per_process  # each process alone spends its full budget


def test_tokens_are_reserved_then_settled_to_actual_usage(redis_url: str) -> None:
    buckets = RedisBuckets(redis_url, key="aikit:rl:test-tpm", tpm=6000, burst_s=1.0)  # 100 tokens/s

    async def scenario() -> tuple[float, float, float, float]:
        first = await buckets.reserve(100)
        second = await buckets.reserve(50)  # 50 tokens short: half a second
        await buckets.settle(first, actual_tokens=20)  # 80 come back
        third = await buckets.reserve(30)  # fits in what settled
        fourth = await buckets.reserve(100)
        return first.wait_s, second.wait_s, third.wait_s, fourth.wait_s

    w1, w2, w3, w4 = run_sync(scenario())
    assert w1 == 0.0
    assert 0.4 < w2 <= 0.5
    assert w3 == 0.0
    assert 0.9 < w4 <= 1.0  # the bucket was back at ~0 and 100 tokens take one second
    buckets.close()


def test_cancelled_wait_gives_the_slot_back(redis_url: str) -> None:
    buckets = RedisBuckets(redis_url, key="aikit:rl:test-cancel", rpm=60)  # one request per second

    async def scenario() -> None:
        await buckets.acquire()  # the fresh bucket's one request
        waiter = asyncio.create_task(buckets.acquire())  # would wait ~1 s
        await asyncio.sleep(0.1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    before = time.monotonic()
    run_sync(scenario())
    assert time.monotonic() - before < 0.8
    assert buckets.state()["requests"] > -0.5  # the cancelled slot was refunded (else about -1)
    buckets.close()


def test_pause_is_seen_by_another_process_instance(redis_url: str) -> None:
    key = "aikit:rl:test-pause"
    a = RedisLimiter(redis_url, key=key, rpm=60_000)
    b = pickle.loads(pickle.dumps(a))  # what a Dask worker would rebuild: same key and limits
    assert isinstance(b, RedisLimiter) and b.shared.key == key and b.rpm == 60_000

    async def scenario() -> float:
        a.pause(0.5)
        await a.flush()
        t0 = time.monotonic()
        permit = await b.acquire(0)
        b.release(permit)
        return time.monotonic() - t0

    assert 0.4 <= run_sync(scenario()) < 1.5
    a.close()
    b.close()


def test_redis_limiter_is_a_rate_limiter_that_learns_shared_limits(redis_url: str) -> None:
    lim = open_redis_limiter(redis_url, provider="openai", base_url=None, api_key=CANARY, model="m")
    assert isinstance(lim, RateLimiter)
    assert lim.rpm is None and lim.tpm is None
    lim.learn(RateLimits(rpm=600, tpm=90_000))
    assert (lim.rpm, lim.tpm) == (600, 90_000)
    explicit = RedisLimiter(redis_url, key=lim.shared.key, rpm=240)
    explicit.learn(RateLimits(rpm=600))
    assert explicit.rpm == 240  # an explicit limit is a ceiling...
    explicit.learn(RateLimits(rpm=120))
    assert explicit.rpm == 120  # ...that a lower advertised limit overrides
    assert CANARY not in repr(lim) and CANARY not in repr(explicit)

    async def two() -> list[float]:
        waits = []
        for _ in range(2):
            permit = await explicit.acquire(10)
            waits.append(permit.waited_s)
            explicit.release(permit, actual_tokens=8)
        await explicit.flush()
        return waits

    waits = run_sync(two())
    assert waits[0] < 0.1 and 0.4 < waits[1] < 0.7  # 120 RPM: 0.5 s apart after the first
    assert explicit.in_flight == 0
    # The sync reserve path asks Redis too.
    assert explicit.reserve(0) > 0.3
    lim.close()
    explicit.close()


def test_bad_configuration_and_unreachable_redis() -> None:
    with pytest.raises(ConfigError):
        RedisBuckets("redis://127.0.0.1:1/0", key="", rpm=10)
    with pytest.raises(ConfigError):
        RedisBuckets("redis://127.0.0.1:1/0", key="k", rpm=-5)
    with pytest.raises(ConfigError):
        RedisLimiter("memcached://x", key="k")
    lim = RedisLimiter(f"redis://:{CANARY}@127.0.0.1:1/0", key="k", rpm=10)
    with pytest.raises(SharedStateError) as info:
        run_sync(lim.acquire(0))
    assert CANARY not in str(info.value) and CANARY not in repr(lim)
    assert lim.in_flight == 0  # the concurrency slot was given back
    lim.close()


def test_requests_held_up_by_a_blocked_loop_do_not_leave_as_one_burst(redis_url: str) -> None:
    buckets = RedisBuckets(redis_url, key="aikit:rl:test-late", rpm=600, burst_s=0.5)  # 10/s, 5 deep

    async def scenario() -> list[float]:
        starts: list[float] = []

        async def one() -> None:
            await buckets.acquire()
            starts.append(time.monotonic())

        tasks = [asyncio.create_task(one()) for _ in range(20)]  # slots 0.1 s apart, up to ~1.9 s
        await asyncio.sleep(0.4)  # every task has its slot by now; the first few have started
        time.sleep(1.2)  # the loop is blocked: a dozen slots pass while nobody can send
        await asyncio.gather(*tasks)
        return sorted(starts)

    starts = run_sync(scenario())
    worst = max(sum(1 for t in starts if s <= t < s + 0.5) for s in starts)
    # Without re-slotting, the ~12 overdue requests would all start at the same instant.
    assert worst <= 5 + 5 + 1, worst
    buckets.close()
