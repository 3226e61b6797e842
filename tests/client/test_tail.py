"""The tail of a batch: the Tail's decisions from values, the flow's hedging driven by hand, and the
driver's race against the fake provider on loopback (hung and slow answers scripted per request).

Nothing here is timed as an assertion: the loopback tests check which copy answered, the rows of the
call log and the counters, with generous timeouts only as a guard against hanging forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from aikit.client.flow import Acquire, AttemptFlow, Await, Effect, Pending, Race, Raced, Send, Store
from aikit.client.ledger import Ledger, Scrubber
from aikit.client.providers.openai import OpenAIProvider
from aikit.client.ratelimit import Permit, RateLimiter
from aikit.client.request import RequestBuilder
from aikit.client.response import Response
from aikit.client.tail import Tail

BASE = "http://127.0.0.1:9/v1"


class Rows:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def record(self, rec: Any) -> None:
        self.rows.append(rec)


def _ready_tail(rows: int = 1000, latency: float = 0.3, n: int = 40, **kw: Any) -> Tail:
    tail = Tail(rows, **kw)
    for _ in range(n):
        tail.observe(latency, output_tokens=20)
    return tail


# -- Tail, from values -------------------------------------------------------------------------------


def test_no_decision_before_enough_samples() -> None:
    tail = Tail(1000, min_samples=20)
    for _ in range(19):
        tail.observe(0.3, 20)
    tail.queue_open = False
    assert tail.hedge_after() is None and not tail.may_hedge()
    assert tail.timeout_s(60.0, 20) == 60.0
    tail.observe(0.3, 20)
    assert tail.hedge_after() == 1.0  # 2 x p95 = 0.6 s, below the 1-s floor
    assert tail.may_hedge()


def test_threshold_follows_the_p95_of_this_batch() -> None:
    tail = Tail(1000)
    for i in range(100):
        tail.observe(0.1 + i * 0.01, 20)  # 0.10 .. 1.09 s; p95 = 1.05
    assert tail.hedge_after() == pytest.approx(2 * 1.05)


def test_never_hedged_while_rows_wait_to_start_nor_when_off_nor_past_the_ceiling() -> None:
    tail = _ready_tail(rows=250)
    assert tail.max_hedges == 2  # 1% of 250
    assert not tail.may_hedge()  # the queue is open
    tail.queue_open = False
    assert tail.may_hedge()
    tail.hedging()
    tail.hedging()
    assert not tail.may_hedge() and tail.hedge_after() is None
    off = _ready_tail(hedge=False)
    off.queue_open = False
    assert not off.may_hedge()
    assert off.timeout_s(60.0, 20) == 3.0  # the adaptive timeout applies either way


def test_adaptive_timeout_is_bounded_below_for_long_answers() -> None:
    tail = _ready_tail(latency=0.4, n=50)  # 20 ms per output token
    assert tail.timeout_s(60.0, max_tokens=20) == 3.0  # the floor (5 x p99 = 2 s)
    assert tail.timeout_s(60.0, max_tokens=1000) == pytest.approx(40.0)  # 2 x 20 ms x 1000
    assert tail.timeout_s(60.0, max_tokens=8000) == 60.0  # never above the client's timeout
    assert tail.timeout_s(2.0, max_tokens=20) == 2.0


def test_bad_latencies_are_ignored() -> None:
    tail = Tail(10, min_samples=1)
    tail.observe(float("nan"))
    tail.observe(-1.0)
    assert not tail.ready


def test_binding_limiter() -> None:
    limiter = RateLimiter(rpm=60)
    assert not limiter.binding()
    limiter.reserve(0)
    assert limiter.binding()
    assert not RateLimiter().binding()  # unpaced: never binding


# -- the flow, driven by hand -----------------------------------------------------------------------


def _reply(status: int = 200, text: str = "hello") -> httpx.Response:
    body = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}, "model": "m"}  # fmt: skip
    return httpx.Response(status, json=body, request=httpx.Request("POST", f"{BASE}/chat/completions"))


def _flow(tail: Tail, limiter: RateLimiter | None = None) -> tuple[AttemptFlow, Ledger, Rows]:
    provider = OpenAIProvider("compat", BASE)
    builder = RequestBuilder(provider="compat", model="gpt-4o-mini", base_url=BASE)
    req = builder.build("hi", max_tokens=20)
    rows = Rows()
    ledger = Ledger(provider="openai", model="gpt-4o-mini", base_url=BASE, session="t", log=rows,  # type: ignore[arg-type]
                    scrub=Scrubber())  # fmt: skip
    flow = AttemptFlow(
        provider, req, provider.build_request(req, None), limiter=limiter or RateLimiter(), ledger=ledger,
        timeout_s=10.0, key=builder.key(req), write_cache=True, tail=tail,
    )  # fmt: skip
    return flow, ledger, rows


def _permit() -> Permit:
    return Permit(tokens=0.0, waited_s=0.0)


def test_a_slow_attempt_is_hedged_the_copy_wins_and_is_stored_once() -> None:
    tail = _ready_tail()
    tail.queue_open = False
    flow, ledger, rows = _flow(tail)
    gen: Generator[Effect, Any, Response] = flow.run()
    assert isinstance(next(gen), Acquire)
    send = gen.send(_permit())
    assert isinstance(send, Send) and send.hedge_after_s == 1.0 and send.timeout_s == 3.0
    hedge_permit = gen.send(Pending("first"))
    assert isinstance(hedge_permit, Acquire)
    race = gen.send(_permit())
    assert isinstance(race, Race) and race.pending.handle == "first" and race.request is send.request
    store = gen.send(Raced(True, _reply(), None))
    assert isinstance(store, Store)
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    answer = stop.value.value
    assert answer.text == "hello" and answer.attempts == 2
    assert [r.outcome for r in rows.rows] == ["cancelled", "ok"]
    assert "hedged" in rows.rows[0].error
    assert ledger.stats["hedges"] == 1 and ledger.stats["http_calls"] == 2 and tail.hedged == 1
    one = ledger.price(flow.provider.parse_response(_reply(), flow.req))  # type: ignore[arg-type]
    assert one is not None and answer.cost_usd == pytest.approx(2 * one)  # the loser may be billed


def test_while_rows_wait_to_start_a_slow_attempt_is_awaited_not_hedged() -> None:
    tail = _ready_tail()  # the queue is open
    flow, ledger, _ = _flow(tail)
    gen = flow.run()
    next(gen)
    gen.send(_permit())
    wait = gen.send(Pending("first"))
    assert isinstance(wait, Await) and wait.pending.handle == "first"
    tail.queue_open = False  # the queue empties meanwhile: the next check hedges
    assert isinstance(gen.send(Pending("first")), Acquire)
    assert ledger.stats["hedges"] == 0


def test_no_hedge_while_the_rate_limit_binds() -> None:
    tail = _ready_tail()
    tail.queue_open = False
    limiter = RateLimiter(rpm=60)
    limiter.reserve(0)  # the bucket is empty
    flow, _, _ = _flow(tail, limiter)
    gen = flow.run()
    next(gen)
    gen.send(_permit())
    assert isinstance(gen.send(Pending("first")), Await)


def test_when_the_copy_fails_and_the_first_answers_the_first_wins() -> None:
    tail = _ready_tail()
    tail.queue_open = False
    flow, _, rows = _flow(tail)
    gen = flow.run()
    next(gen)
    gen.send(_permit())
    gen.send(Pending("first"))
    gen.send(_permit())
    store = gen.send(Raced(False, _reply(text="from the first"), _reply(502)))
    assert isinstance(store, Store) and store.response.text == "from the first"
    with pytest.raises(StopIteration):
        gen.send(None)
    assert [r.outcome for r in rows.rows] == ["retry", "ok"] and rows.rows[0].status == 502


def test_a_race_both_copies_lose_is_retried_like_a_timeout() -> None:
    tail = _ready_tail()
    tail.queue_open = False
    flow, _, rows = _flow(tail)
    gen = flow.run()
    next(gen)
    gen.send(_permit())
    gen.send(Pending("first"))
    gen.send(_permit())
    sleep = gen.send(Raced(True, TimeoutError(), TimeoutError()))
    assert type(sleep).__name__ == "Sleep"
    assert [r.outcome for r in rows.rows] == ["retry", "retry"]
    assert "no answer within 3.0 s" in rows.rows[1].error  # the adaptive timeout, not the client's 10 s


def test_an_attempt_that_ends_while_its_copy_waits_sends_no_copy() -> None:
    tail = _ready_tail()
    tail.queue_open = False
    flow, ledger, rows = _flow(tail)
    gen = flow.run()
    next(gen)
    gen.send(_permit())
    gen.send(Pending("first"))
    assert tail.hedged == 1  # reserved at the decision
    store = gen.send(_permit())
    assert isinstance(store, Race)
    store = gen.send(Raced(False, _reply(), None, sent=False))
    assert isinstance(store, Store)
    with pytest.raises(StopIteration):
        gen.send(None)
    assert tail.hedged == 0 and ledger.stats["hedges"] == 0 and ledger.stats["http_calls"] == 1
    assert [r.outcome for r in rows.rows] == ["ok"]


# -- the driver, against the fake provider on loopback ---------------------------------------------


@pytest.fixture
def fake() -> Any:
    from aikit.testing import FakeConfig, FakeProvider

    server = FakeProvider(FakeConfig()).start()
    yield server
    server.stop()


def _client(fake: Any, **kw: Any) -> Any:
    from aikit.client import AsyncAI

    return AsyncAI("compat:fake-model", base_url=fake.base_url, api_key="sk-x", cache=False, calllog=False,
                   **kw)  # fmt: skip


def test_a_hung_first_copy_is_cancelled_and_the_hedge_answers(fake: Any) -> None:
    """The first arrival hangs (``times=1``); the hedged copy is the second arrival and answers."""
    from aikit.testing import fake_reply

    async def main() -> tuple[Response, dict[str, Any]]:
        ai = _client(fake, timeout=30.0)
        tail = _ready_tail(latency=0.01, floor_s=0.2)
        tail.queue_open = False
        prompt = "[[fake:hang,times=1]] please answer"
        try:
            r = await asyncio.wait_for(ai.achat(prompt, tail=tail), 20)
        finally:
            await ai.aclose()
        return r, ai.stats()

    r, stats = asyncio.run(main())
    assert r.text == fake_reply(
        "fake-model", [{"role": "user", "content": "[[fake:hang,times=1]] please answer"}]
    )
    assert stats["hedges"] == 1 and stats["http_calls"] == 2 and stats["errors"] == 0
    assert fake.stats()["requests"] == 2


def test_a_batch_hedges_its_hung_tail_and_records_both_copies(fake: Any, aikit_home: Any) -> None:
    """40 quick rows teach the tail; the last row hangs on its first arrival and is hedged."""
    from aikit import batch
    from aikit.client import AI

    ai = AI("compat:fake-model", base_url=fake.base_url, api_key="sk-x", timeout=30.0)
    prompts = [f"row {i}" for i in range(40)] + ["[[fake:delay=1.5,times=1]] the slow last row"]
    result = batch(prompts, ai=ai, progress=False, concurrency=1)
    assert all(r.ok for r in result)
    stats = ai.stats()
    assert stats["hedges"] == 1 and stats["http_calls"] == 42
    log = ai.calls()
    assert sorted(log["outcome"].tolist()).count("cancelled") == 1
    assert len(log[log["outcome"] == "ok"]) == 41
    again = batch(prompts, ai=ai, progress=False)  # one cache entry per prompt: all hits
    assert again.summary()["cached"] == 41
    ai.close()
