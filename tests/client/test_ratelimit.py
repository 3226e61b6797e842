"""Pacing: token buckets that queue reservations, settle to actual usage, learn limits, adapt concurrency."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from aikit.client import AsyncAI
from aikit.client.providers.base import RateLimits
from aikit.client.ratelimit import Permit, RateLimiter, TokenBucket
from aikit.client.retry import RetryPolicy
from aikit.testing import FakeConfig, FakeProvider


def test_bucket_queues_reservations_fifo_one_interval_apart() -> None:
    b = TokenBucket(rate=2.0, capacity=2.0, now=0.0)
    waits = [b.reserve(1, now=0.0) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert b.reserve(1, now=10.0) == 0.0  # refilled, capped at capacity


def test_tpm_reservation_settles_to_actual_usage() -> None:
    lim = RateLimiter(tpm=60_000)  # 1,000 tokens/s, bucket of 1,000
    now = time.monotonic()
    assert lim.reserve(800, now=now) == 0.0
    lim.in_flight = 1
    lim.release(Permit(tokens=800.0, waited_s=0.0), actual_tokens=100)  # the estimate was far too high
    assert lim.reserve(800, now=now) == 0.0  # 1000 - 100 left: room for another 800
    assert lim.reserve(800, now=now) == pytest.approx(0.7, abs=0.01)


def test_explicit_limits_are_ceilings_that_advertised_lower_limits_override() -> None:
    lim = RateLimiter(rpm=60, tpm=100_000)
    lim.learn(RateLimits(rpm=6000, tpm=90_000))
    assert (
        lim.rpm == 60 and lim.tpm == 90_000
    )  # never raised above the explicit value; lowered to the server's
    learner = RateLimiter()
    assert learner.rpm is None
    learner.learn(RateLimits(rpm=500))
    assert learner.rpm == 500
    RateLimiter(learn=False).learn(RateLimits(rpm=5))


def test_persistent_429s_slow_the_pace_and_successes_restore_it() -> None:
    lim = RateLimiter(rpm=600)  # 10/s
    t = 1000.0
    for dt in (0.0, 0.1, 0.2, 0.3):  # one burst of rejections in one second: a start-up race, no change
        lim._rejected(t + dt)
    assert lim.rate_scale == 1.0
    for dt in (1.0, 1.1, 1.2):  # ...but the next second rejects again: the pace is wrong
        lim._rejected(t + dt)
    assert lim.rate_scale == pytest.approx(0.7)
    now = time.monotonic() + 100  # a full bucket again
    waits = [lim.reserve(0, now=now) for _ in range(12)]
    assert waits[-1] - waits[-2] == pytest.approx(0.1 / 0.7)  # spaced at 70% of the rate
    for _ in range(200):
        lim.in_flight += 1
        lim.release(Permit(tokens=0.0, waited_s=0.0, ok=True))
    assert lim.rate_scale == pytest.approx(1.0) and lim.rpm == 600


def test_queued_requests_stretch_when_the_pace_goes_down() -> None:
    async def main() -> list[float]:
        lim = RateLimiter(rpm=1200, max_concurrency=64)  # 20/s, bucket of 20
        t0 = time.monotonic()
        starts: list[float] = []

        async def job() -> None:
            p = await lim.acquire()
            starts.append(time.monotonic() - t0)
            lim.release(p)

        tasks = [asyncio.ensure_future(job()) for _ in range(30)]
        await asyncio.sleep(0.02)
        lim.learn(RateLimits(rpm=600))  # the server says 10/s: the queue (10 left) now takes ~1 s
        await asyncio.gather(*tasks)
        return sorted(starts)

    starts = asyncio.run(main())
    gaps = [b - a for a, b in itertools.pairwise(starts[20:])]
    assert starts[19] < 0.02 and min(gaps) > 0.07 and 0.8 < starts[-1] < 1.4


def test_unknown_limits_probe_with_one_request_until_the_first_answer() -> None:
    async def main() -> tuple[int, int, float]:
        lim = RateLimiter(max_concurrency=8, probe_s=0.3)
        first = await lim.acquire()
        t0 = time.monotonic()
        second = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0.05)
        assert not second.done() and lim.in_flight == 1  # probing: one in flight
        lim.release(first)  # the first answer ends the probe
        await second
        burst = [await lim.acquire() for _ in range(7)]
        hung = RateLimiter(max_concurrency=8, probe_s=0.3)
        await hung.acquire()  # never released: a hung first answer
        waited = await hung.acquire()
        hung_wait = time.monotonic() - t0
        return lim.in_flight, len(burst) + 1, hung_wait if waited else -1.0

    in_flight, granted, hung_wait = asyncio.run(main())
    assert in_flight == granted == 8 and 0.3 <= hung_wait < 0.8


def test_concurrency_halves_on_throttling_once_per_second_and_grows_back() -> None:
    async def main() -> list[int]:
        lim = RateLimiter(max_concurrency=16, grow_after=2, learn=False)
        seen = []
        permits = [await lim.acquire() for _ in range(3)]
        for p in permits:  # three 429s at once are one congestion event
            lim.release(p, throttled=True)
        seen.append(int(lim.limit))
        lim._last_decrease -= 2.0
        p = await lim.acquire()
        lim.release(p, throttled=True)
        seen.append(int(lim.limit))
        for _ in range(4):  # two clean completions per step
            p = await lim.acquire()
            lim.release(p)
        seen.append(int(lim.limit))
        return seen

    assert asyncio.run(main()) == [8, 4, 6]


def test_concurrency_limit_holds_waiters_and_cancellation_frees_slots() -> None:
    async def main() -> tuple[int, int, int]:
        lim = RateLimiter(max_concurrency=2, learn=False)
        peak = 0

        async def job() -> None:
            nonlocal peak
            p = await lim.acquire()
            peak = max(peak, lim.in_flight)
            await asyncio.sleep(0.01)
            lim.release(p)

        await asyncio.gather(*(job() for _ in range(10)))
        held = [await lim.acquire() for _ in range(2)]
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        for p in held:
            lim.release(p)
        return peak, lim.in_flight, len(lim._waiters)

    assert asyncio.run(main()) == (2, 0, 0)


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key="sk-rl", rpm=600, burst_s=1.0, latency_median_s=0.01)


def test_paced_client_stays_under_the_servers_limit(fake: FakeProvider) -> None:
    """40 distinct requests at 600 RPM (10/s, 1-s bucket): about 3 s; at most a stray 429 from jitter."""

    async def main() -> float:
        ai = AsyncAI("openai:gpt-4o-mini", base_url=fake.base_url, api_key="sk-rl", rpm=600, cache=False)
        t0 = time.perf_counter()
        rs = await asyncio.gather(*(ai.achat(f"prompt {i}", max_tokens=5) for i in range(40)))
        assert all(r.text.startswith("fake-") for r in rs)
        await ai.aclose()
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    stats = fake.stats()
    assert stats["rate_limited"] <= 2 and stats["ok"] == 40
    assert 2.7 <= elapsed <= 6.0


def test_limits_learned_from_headers_stop_the_429s(fake: FakeProvider) -> None:
    """No rpm given: the first answers teach the limit (x-ratelimit-limit-requests), the rest are paced."""

    async def main() -> AsyncAI:
        ai = AsyncAI(
            "openai:gpt-4o-mini", base_url=fake.base_url, api_key="sk-rl", cache=False,
            retry=RetryPolicy(max_attempts=20, deadline_s=30),
        )  # fmt: skip
        await ai.achat("warm up", max_tokens=5)
        assert ai.limiter.rpm == 600
        await asyncio.gather(*(ai.achat(f"prompt {i}", max_tokens=5) for i in range(25)))
        await ai.aclose()
        return ai

    ai = asyncio.run(main())
    assert ai.stats()["retries"] == 0
    assert fake.stats()["rate_limited"] == 0


def test_a_limit_set_too_high_is_lowered_to_the_advertised_one() -> None:
    """The caller says 2,400 RPM, the server allows (and advertises) 1,200: no storm of 429s, no row lost."""
    with FakeProvider(FakeConfig(api_key="sk-rl", rpm=1200, latency_median_s=0.01)) as server:

        async def main() -> AsyncAI:
            policy = RetryPolicy(max_attempts=30, deadline_s=60)
            url = server.base_url
            ai = AsyncAI(
                "openai:gpt-4o-mini", base_url=url, api_key="sk-rl", rpm=2400, cache=False, retry=policy
            )
            rs = await asyncio.gather(*(ai.achat(f"row {i}", max_tokens=5) for i in range(120)))
            assert len(rs) == 120
            await ai.aclose()
            return ai

        ai = asyncio.run(main())
        stats = server.stats()
    assert stats["ok"] == 120 and ai.limiter.rpm == 1200
    assert stats["rate_limited"] <= 45  # the first burst only (a pace that stayed too high: ~1 per row)
