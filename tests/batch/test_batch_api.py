"""The batch engine over loopback against the fake provider: every row kept, one call per unique
prompt, partial failure, resume after an interrupt, budget stop, bounded scheduling, progress counts."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aikit._batch.api import BatchResult, abatch, batch, estimate
from aikit._batch.progress import ProgressState
from aikit.client import AI, pricing
from aikit.exceptions import BudgetExceededError, ConfigError, ProviderHTTPError
from aikit.testing import FakeProvider, fake_reply

MODEL = "fake-model"


def expected(prompt: str) -> str:
    return fake_reply(MODEL, [{"role": "user", "content": prompt}])


def calls(fake: FakeProvider) -> int:
    return int(fake.stats()["by_path"].get("/chat/completions", 0))


class Recorder:
    """A progress view that records what the engine shows (start/finish on the caller's thread)."""

    live = True

    def __init__(self) -> None:
        self.started: ProgressState | None = None
        self.snapshots: list[dict[str, int]] = []
        self.finished: ProgressState | None = None
        self.max_tasks = 0

    def start(self, state: ProgressState, title: str) -> None:
        self.started = state
        self.start_settled = state.settled

    def refresh(self, state: ProgressState) -> None:  # on the loop thread, 5 times a second
        self.max_tasks = max(self.max_tasks, len(asyncio.all_tasks()))
        self.snapshots.append(
            {"settled": state.settled, "in_flight": state.in_flight, "retrying": state.retrying}
        )

    def finish(self, state: ProgressState) -> None:
        self.finished = state


def test_every_prompt_answered_in_order(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"prompt number {i}" for i in range(60)]
    result = batch(prompts, ai=ai, progress=False)
    assert isinstance(result, BatchResult) and len(result) == 60
    assert result.texts == [expected(p) for p in prompts]
    assert result.errors == [None] * 60
    assert calls(fake) == 60
    summary = result.summary()
    assert (summary["rows"], summary["ok"], summary["failed"], summary["calls"]) == (60, 60, 0, 60)


def test_message_lists_and_system_prompt(ai: AI) -> None:
    chats = [[{"role": "user", "content": f"chat {i}"}] for i in range(5)]
    result = batch(chats, ai=ai, system="be brief", progress=False)
    assert all(r.ok for r in result)
    want = [
        fake_reply(
            MODEL, [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"chat {i}"}]
        )
        for i in range(5)
    ]
    assert result.texts == want
    with pytest.raises(ConfigError):
        batch("one prompt", ai=ai)
    with pytest.raises(ConfigError):
        batch([42], ai=ai)


def test_partial_failure_keeps_the_other_rows_and_rerun_calls_only_failures(
    ai: AI, fake: FakeProvider
) -> None:
    prompts = [f"ticket {i}" + (" FAIL400" if i % 8 == 3 else "") for i in range(40)]
    result = batch(prompts, ai=ai, progress=False)
    bad = [i for i in range(40) if i % 8 == 3]
    assert [i for i, r in enumerate(result) if not r.ok] == bad
    for i in bad:
        error = result[i].error
        assert error is not None and error.startswith("ProviderHTTPError:") and "HTTP 400" in error
        assert isinstance(result[i].exception, ProviderHTTPError)
    assert all(result[i].text == expected(prompts[i]) for i in range(40) if i not in bad)
    assert calls(fake) == 40  # a 400 is never retried
    again = batch(prompts, ai=ai, progress=False)
    assert calls(fake) == 40 + len(bad)  # the rerun calls exactly the rows not done
    assert again.summary()["cached"] == 40 - len(bad)


def test_on_error_raise_stops_at_the_first_failure(ai: AI, fake: FakeProvider) -> None:
    prompts = ["fine 1", "broken FAIL400", *[f"fine {i}" for i in range(2, 30)]]
    with pytest.raises(ProviderHTTPError, match="HTTP 400"):
        batch(prompts, ai=ai, on_error="raise", concurrency=2, progress=False)
    assert calls(fake) < 30


def test_duplicates_cost_one_call(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"same question {i % 7}" for i in range(50)]
    result = batch(prompts, ai=ai, progress=False)
    assert calls(fake) == 7
    assert result.calls == 7
    assert result.texts == [expected(p) for p in prompts]
    off = batch(prompts, ai=ai, cache="off", progress=False)  # no cache at all: still deduplicated
    assert calls(fake) == 14 and all(r.ok for r in off)


def test_concurrent_batches_share_in_flight_requests(ai: AI, fake: FakeProvider) -> None:
    fake.configure(latency_median_s=0.2, latency_sigma=0.01)
    prompts = [f"shared {i}" for i in range(12)]

    async def both() -> list[BatchResult]:
        return list(await asyncio.gather(abatch(prompts, ai=ai, progress=False),
                                         abatch(prompts, ai=ai, progress=False)))  # fmt: skip

    first, second = asyncio.run(both())
    assert first.texts == second.texts == [expected(p) for p in prompts]
    assert calls(fake) == 12  # single flight: the second batch waited for the first's requests


def test_fully_cached_rerun_makes_no_call(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"cache me {i}" for i in range(120)]
    batch(prompts, ai=ai, progress=False)
    before = calls(fake)
    t0 = time.perf_counter()
    again = batch(prompts, ai=ai, progress=False)
    assert calls(fake) == before
    assert again.summary()["cached"] == 120 and all(r.response and r.response.cached for r in again)
    assert time.perf_counter() - t0 < 2.0


def test_rows_answered_by_the_resume_lookup_count_as_cache_hits(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"resume {i % 30}" for i in range(40)]  # 30 distinct prompts, 10 repeated
    batch(prompts, ai=ai, progress=False)
    before = ai.stats()
    batch(prompts, ai=ai, progress=False)
    after = ai.stats()
    assert after["cache_hits"] - before["cache_hits"] == 40
    assert after["requests"] - before["requests"] == 40
    assert after["http_calls"] == before["http_calls"]
    ai.aio._log().flush()  # type: ignore[union-attr]
    log = ai.calls()
    hits = log[(log["session"] == ai.aio.session) & (log["outcome"] == "cache_hit")]
    # one summary row for the whole lookup: 40 requests answered by 30 distinct cached answers
    assert len(hits) == 1 and hits["requests"].iloc[0] == 40
    answered = log[(log["session"] == ai.aio.session) & (log["outcome"] == "ok")]
    tokens = dict(zip(answered["cache_key"], answered["input_tokens"], strict=True))
    assert hits["input_tokens"].iloc[0] == sum(tokens[ai.aio.cache_key(p)] for p in prompts)


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler, reason="SIGINT is handled elsewhere"
)
def test_interrupt_stops_within_a_second_and_rerun_calls_only_rows_not_done(
    ai: AI, fake: FakeProvider, make_ai: Callable[..., AI]
) -> None:
    fake.configure(latency_median_s=0.15, latency_sigma=0.2, rpm=600)  # 10 requests/s: ~6 s for 60
    prompts = [f"long batch row {i}" for i in range(60)]
    interrupted_at: list[float] = []

    def interrupt() -> None:
        interrupted_at.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(1.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            batch(prompts, ai=ai, progress=False)
        stopped = time.perf_counter() - interrupted_at[0]
    finally:
        timer.cancel()
    assert stopped < 1.2, f"the batch took {stopped:.2f} s to stop"
    keys = [ai.cache_key(p) for p in prompts]
    done = len(ai.cached(keys))  # every finished row was saved as it arrived
    assert 0 < done < 60
    time.sleep(0.3)  # let cancelled requests drain at the server
    before = calls(fake)
    fake.configure(rpm=None, latency_median_s=0.002)
    # A new client on the same cache, as after a kernel restart (it has not learned the old limit).
    restarted = make_ai()
    result = batch(prompts, ai=restarted, progress=False)
    assert all(r.ok for r in result)
    assert calls(fake) - before == 60 - done
    assert result.summary()["cached"] == done


def test_cancelling_abatch_stops_it(ai: AI, fake: FakeProvider) -> None:
    fake.configure(latency_median_s=0.2, latency_sigma=0.1, rpm=300)
    prompts = [f"async row {i}" for i in range(40)]

    async def run() -> float:
        task = asyncio.ensure_future(abatch(prompts, ai=ai, progress=False))
        await asyncio.sleep(1.0)
        task.cancel()
        t0 = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - t0

    assert asyncio.run(run()) < 1.0
    done = len(ai.cached([ai.cache_key(p) for p in prompts]))
    assert 0 < done < 40


def test_budget_stops_scheduling_and_says_so(
    ai: AI, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pricing.PRICES, ("compat", MODEL), pricing.Price(100.0, 100.0))
    prompts = [f"budget row {i} " + "x" * 400 for i in range(20)]
    one = ai.price(*ai.estimate_tokens(prompts[0], max_tokens=10))
    assert one is not None and one > 0
    budget = one * 4.5
    result = batch(prompts, ai=ai, max_tokens=10, budget_usd=budget, concurrency=3, progress=False)
    ok = [r for r in result if r.ok]
    skipped = [r for r in result if r.skipped]
    assert 1 <= len(ok) <= 4 and len(ok) + len(skipped) == 20
    assert calls(fake) == len(ok)
    assert result.cost_usd is not None and result.cost_usd <= budget
    assert all(r.error and r.error.startswith("BudgetExceededError: not run: budget_usd=") for r in skipped)
    assert result.summary()["skipped"] == len(skipped)
    with pytest.raises(BudgetExceededError):
        batch([f"other {p}" for p in prompts], ai=ai, max_tokens=10, budget_usd=budget, on_error="raise",
              progress=False)  # fmt: skip


def test_budget_needs_a_price(ai: AI, fake: FakeProvider) -> None:
    with pytest.raises(ConfigError, match="needs a price"):
        batch(["a", "b"], ai=ai, budget_usd=1.0, progress=False)
    assert calls(fake) == 0


def test_bad_arguments_raise_before_any_call(ai: AI, fake: FakeProvider) -> None:
    with pytest.raises(ConfigError):
        batch(["a"], ai=ai, on_error="ignore")
    with pytest.raises(ConfigError):
        batch(["a"], ai=ai, cache="sometimes")
    with pytest.raises(ConfigError):
        batch(["a"], ai=ai, budget_usd=-1)
    with pytest.raises(ConfigError):
        batch(["a"], ai=object())
    with pytest.raises(ConfigError):
        batch(["a"], ai=ai, schema={"type": "nonsense"})
    assert calls(fake) == 0


def test_scheduling_is_bounded_and_progress_counts_match(ai: AI, fake: FakeProvider) -> None:
    # ~150 calls at 6 in flight and 40 ms each: about a second, so the 5 Hz view refreshes several times
    fake.configure(latency_median_s=0.04, latency_sigma=0.2)
    prompts = [f"bounded {i}" + (" FAIL400" if i % 25 == 7 else "") for i in range(200)]
    batch(prompts[:50], ai=ai, progress=False)  # a quarter is cached already
    fake.reset()
    view = Recorder()
    result = batch(prompts, ai=ai, concurrency=6, progress=view)
    stats = fake.stats()
    assert stats["max_in_flight"] <= 6
    # workers, each with at most one attempt in its own task (an attempt that may be hedged), the
    # ticker and the batch itself: bounded by the concurrency, not one task per row
    assert view.max_tasks <= 2 * 6 + 4
    assert view.started is not None and view.start_settled == 48  # 2 failures are not cached
    state = view.finished
    assert state is not None and state.outcome == "done"
    failed = sum(1 for r in result if not r.ok)
    cached = sum(1 for r in result if r.ok and r.response is not None and r.response.cached)
    assert (state.done, state.failed, state.cached, state.skipped) == (200 - failed, failed, cached, 0)
    assert failed == 8 and state.in_flight == 0 and state.retrying == 0
    settled = [s["settled"] for s in view.snapshots]
    assert settled == sorted(settled) and len(settled) >= 2  # updated while running, never backwards
    assert all(s["in_flight"] >= 0 and s["retrying"] >= 0 for s in view.snapshots)


def test_retries_show_in_progress(ai: AI, fake: FakeProvider) -> None:
    fake.configure(error_rate=0.3, error_statuses=[503], latency_median_s=0.005)
    view = Recorder()
    result = batch([f"flaky {i}" for i in range(40)], ai=ai, progress=view)
    assert all(r.ok for r in result)  # 503s are retried until they succeed
    assert view.finished is not None and view.finished.retries > 0 and view.finished.done == 40


def test_estimate_counts_cached_rows(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"estimate {i % 30}" for i in range(40)]
    batch(prompts[:10], ai=ai, max_tokens=10, progress=False)
    est = estimate(prompts, ai=ai, max_tokens=10)
    assert (est.rows, est.unique_prompts, est.cached_rows, est.calls) == (40, 30, 20, 20)
    assert est.rows_to_call == 20
    assert est.input_tokens > 0 and est.output_tokens == 200 and est.cost_usd is None
    assert "20 already cached" in repr(est) and "unknown" in repr(est)
    assert calls(fake) == 10


def test_rejected_key_fails_fast_and_never_leaks(
    fake: FakeProvider, make_ai: Callable[..., AI], tmp_path: Path, aikit_home: Path
) -> None:
    import pandas as pd

    canary = "sk-canary-7f3a9c1e5b"  # the fake requires another key
    client = make_ai(api_key=canary, cache=str(tmp_path / "c"))
    view = Recorder()
    with pytest.raises(ProviderHTTPError) as info:
        batch([f"row {i}" for i in range(200)], ai=client, concurrency=4, progress=view)
    assert info.value.status == 401 and canary not in str(info.value)
    assert calls(fake) <= 4  # not 200 rejected calls: the first 401 stops the batch
    assert view.finished is not None and canary not in view.finished.summary_line()
    df = pd.DataFrame({"t": ["a", "b"]})
    with pytest.raises(ProviderHTTPError):
        df.ai.map("{t}", ai=client, progress=False)
    assert canary not in repr(client) and canary not in repr(df.attrs)
    client.close()
    for root in (aikit_home, tmp_path):
        for path in root.rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), path


def test_worker_count_follows_the_client(ai: AI) -> None:
    from aikit._batch.run import LOCAL_CONCURRENCY, client_concurrency
    from aikit.client import AsyncAI

    assert client_concurrency(ai.aio) == ai.aio.limiter.max_concurrency
    local = AsyncAI("local", cache=False)  # nothing starts until the first call
    assert client_concurrency(local) == LOCAL_CONCURRENCY


def test_aikit_batch_is_callable_whichever_import_came_first(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import pandas, aikit; "  # importing pandas imports the batch engine first (df.ai)
        "r = aikit.batch([], ai='openai:gpt-4o-mini', progress=False); "
        "print(len(r), type(aikit.batch).__name__, type(aikit.abatch).__name__)"
    )
    env = {**os.environ, "AIKIT_HOME": str(tmp_path), "OPENAI_API_KEY": "sk-unused"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.split() == ["0", "function", "function"], proc.stderr
