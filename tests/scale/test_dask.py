"""ddf.ai on a real multi-process LocalCluster, with a real Redis and the fake provider over loopback."""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import redis

from aikit.client import AI
from aikit.exceptions import ConfigError
from aikit.scale.dask import batch_on, client_description
from aikit.scale.redis_cache import RedisCache
from aikit.scale.redis_limiter import RedisLimiter, limiter_key
from aikit.testing import FakeConfig, FakeProvider

dd = pytest.importorskip("dask.dataframe")

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TONE = {
    "type": "object",
    "properties": {"tone": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
    "required": ["tone"],
}


@pytest.fixture(scope="module")
def fake(worker_key: str) -> Iterator[Any]:
    """The fake provider in its own process; it requires the key the workers have in their env."""
    server = FakeProvider.start_process(FakeConfig(api_key=worker_key, latency_median_s=0.03, seed=7))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker_env_key(monkeypatch: pytest.MonkeyPatch, worker_key: str) -> str:
    monkeypatch.setenv("AIKIT_API_KEY", worker_key)
    return worker_key


def _frame(n: int, dup_every: int = 0) -> pd.DataFrame:
    texts = [f"ticket {i // dup_every if dup_every else i}: the invoice is wrong" for i in range(n)]
    return pd.DataFrame({"content": texts, "n": range(n)}, index=pd.RangeIndex(100, 100 + n))


def _client(fake: Any, redis_url: str, **kw: Any) -> AI:
    return AI("compat:fake-model", base_url=fake.base_url, cache=RedisCache(redis_url), calllog=False, **kw)


def test_identical_results_and_a_shared_cache(
    fake: Any, redis_url: str, dask_client: Any, worker_env_key: str
) -> None:
    df = _frame(120, dup_every=3)  # 40 unique prompts
    ai = _client(fake, redis_url)
    desc = pickle.dumps(client_description(ai))
    assert worker_env_key.encode() not in desc  # the key is resolved again on each worker
    fake.reset()
    single = df.ai.map("Tone of: {content}", ai=ai, schema=TONE, with_meta=True, progress=False)
    assert fake.stats()["requests"] == 40
    keys = set(redis.Redis.from_url(redis_url).scan_iter("aikit:cache:*"))
    RedisCache(redis_url).clear()
    fake.reset()

    out = dd.from_pandas(df, npartitions=4).ai.map("Tone of: {content}", ai=ai, schema=TONE, with_meta=True)
    assert list(out.columns) == list(single.columns)
    t0 = time.monotonic()
    first = out.ai.compute(progress=False)
    first_s = time.monotonic() - t0
    # Identical to the single-machine run: same columns and dtypes, same answers, same cache keys.
    assert list(first.columns) == list(single.columns)
    added = [c for c in single.columns if c not in df.columns]  # the input's own columns keep Dask's dtypes
    assert dict(first.dtypes[added]) == dict(single.dtypes[added])
    same = ["tone", "ai_error", "ai_input_tokens", "ai_output_tokens", "ai_cost_usd"]
    pd.testing.assert_frame_equal(first[same], single[same])
    assert first.index.equals(single.index) and first["n"].tolist() == single["n"].tolist()
    assert set(redis.Redis.from_url(redis_url).scan_iter("aikit:cache:*")) == keys
    # Duplicates cost one call (partitions of 30 rows hold whole groups of 3 identical prompts).
    calls_first = fake.stats()["requests"]
    assert calls_first == 40
    summary = out.ai.summary()
    assert summary["rows"] == 120 and summary["ok"] == 120 and summary["failed"] == 0
    assert summary["partitions_done"] == 4

    # The second run of the same batch is answered by the shared Redis cache: zero provider calls.
    again = dd.from_pandas(df, npartitions=4).ai.map("Tone of: {content}", ai=ai, schema=TONE)
    t0 = time.monotonic()
    second = again.ai.compute(progress=False)
    assert time.monotonic() - t0 < first_s
    assert fake.stats()["requests"] == calls_first
    assert again.ai.summary()["cached"] == 120
    assert second["tone"].tolist() == single["tone"].tolist()

    # The key the workers used (from their environment) is nowhere: not in Redis, the result, its
    # lineage, the summary or the description shipped to the workers.
    canary = worker_env_key.encode()
    raw = redis.Redis.from_url(redis_url)
    for name in raw.scan_iter("*"):
        value = raw.get(name) if raw.type(name) == b"string" else b"".join(raw.hgetall(name).values())
        assert canary not in name and canary not in (value or b"")
    assert worker_env_key not in first.to_json() + repr(first.attrs) + repr(out.ai.summary())
    assert canary not in pickle.dumps(client_description(ai))


def test_errors_stay_per_row_and_bad_templates_fail_before_any_call(
    fake: Any, redis_url: str, dask_client: Any, worker_env_key: str
) -> None:
    df = pd.DataFrame({"content": ["fine", "FAIL400 please", "also fine", "ok"]})
    ai = _client(fake, redis_url)
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(ConfigError, match="content"):
        ddf.ai.map("Tone of: {missing}", ai=ai)
    fake.reset()
    res = ddf.ai.map("Echo: {content}", ai=ai, into="answer").ai.compute(progress=False)
    assert res["answer"].notna().sum() == 3
    assert res.loc[1, "ai_error"].startswith("ProviderHTTPError")
    assert ddf.ai.map("Echo: {content}", ai=ai, into="answer").ai.summary()["rows"] == 0  # not run yet


def test_workers_share_the_rate_limit_through_redis(
    redis_url: str, dask_client: Any, worker_env_key: str
) -> None:
    rpm = 2400  # 40 requests/s enforced by the server as a 1-s bucket
    df = _frame(160)
    with FakeProvider.start_process(
        FakeConfig(api_key=worker_env_key, rpm=rpm, latency_median_s=0.05)
    ) as server:
        # The user-facing form: Redis URLs for both the cache and the limiter.
        ai = AI("compat:fake-model", base_url=server.base_url, cache=redis_url, limiter=redis_url, rpm=rpm)
        assert isinstance(ai.aio.limiter, RedisLimiter)
        assert ai.aio.limiter.shared.key == limiter_key(
            "compat", server.base_url, worker_env_key, "fake-model"
        )
        server.reset()
        out = dd.from_pandas(df, npartitions=4).ai.map("Tone of: {content}", ai=ai, schema=TONE)
        res = out.ai.compute(progress=False)
        stats = server.stats(arrivals=True)
    assert res["ai_error"].isna().all() and len(res) == 160
    assert stats["rate_limited"] == 0, stats["by_status"]
    assert stats["requests"] == 160
    arrivals = sorted(stats["arrivals"])
    rate = rpm / 60
    # Token-bucket conformance of the combined arrivals (1 s deep, as the provider enforces it):
    # any k consecutive arrivals spanning d seconds satisfy k <= burst + rate * d.
    excess = max(
        (j - i + 1) - (rate + rate * (arrivals[j] - arrivals[i]))
        for i in range(len(arrivals))
        for j in range(i, len(arrivals))
    )
    assert excess <= 1.0, excess
    span = arrivals[-1] - arrivals[0]
    assert span <= (160 - 1) / (rpm / 60) * 1.25, span  # close to the limit, not far below it


def test_a_killed_worker_is_recomputed_without_paying_twice(
    fake: Any, redis_url: str, dask_client: Any, worker_env_key: str
) -> None:
    n, concurrency = 120, 4
    df = _frame(n)
    fake.configure(latency_median_s=0.06, latency_sigma=0.1)
    try:
        ai = _client(fake, redis_url, max_concurrency=concurrency)
        fake.reset()
        out = dd.from_pandas(df, npartitions=2).ai.map("Tone of: {content}", ai=ai, concurrency=concurrency)
        future = dask_client.compute(out)
        deadline = time.monotonic() + 30
        while fake.stats()["requests"] < 25 and time.monotonic() < deadline:
            time.sleep(0.02)
        processing = {w: ts for w, ts in dask_client.processing().items() if ts}
        pids = dask_client.run(os.getpid)
        victim = next(iter(processing))
        done_before_kill = fake.stats()["ok"]
        os.kill(pids[victim], signal.SIGKILL)
        res = future.result(timeout=60)
        stats = fake.stats()
    finally:
        fake.configure(latency_median_s=0.03, latency_sigma=0.5)
    assert len(res) == n and res["ai_error"].isna().all()
    assert done_before_kill >= 10
    # Every answer finished before the kill came from the cache on the recompute: the only extra
    # calls are the requests that were in flight on the killed worker.
    assert n <= stats["requests"] <= n + concurrency, stats["requests"]
    tracker = out.ai.tracker()
    deadline = time.monotonic() + 5
    while not tracker.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    summary = tracker.summary()
    assert summary["partition_attempts"] >= 3  # one partition ran twice
    assert summary["ok"] == n


def test_batch_on_a_dask_client(fake: Any, redis_url: str, dask_client: Any, worker_env_key: str) -> None:
    ai = _client(fake, redis_url)
    prompts = [f"Say {i % 25}" for i in range(75)]
    fake.reset()
    res = batch_on(dask_client, prompts, ai=ai, partitions=3, progress=False)
    assert len(res) == 75 and all(r.ok for r in res)
    assert res.texts[0] == res.texts[25] == res.texts[50]
    assert fake.stats()["requests"] == 25  # each distinct prompt once, whichever chunk it is in
    assert res.state.done == 75 and res.state.total == 75
    again = batch_on(dask_client, prompts, ai=ai, progress=False)
    assert fake.stats()["requests"] == 25 and again.state.cached == 75
    assert again.texts == res.texts
    from aikit._batch.api import batch

    via_batch = batch(prompts, ai=ai, client=dask_client, progress=False)  # aikit.batch(..., client=)
    assert via_batch.texts == res.texts and fake.stats()["requests"] == 25


def test_classify_and_extract_give_the_pandas_columns(
    fake: Any, redis_url: str, dask_client: Any, worker_env_key: str
) -> None:
    df = pd.DataFrame({"content": ["I was charged twice", "The app crashes", "Please add dark mode"]})
    ai = _client(fake, redis_url)
    labels = ["billing", "bug", "feature request"]
    ddf = dd.from_pandas(df, npartitions=2)
    single = df.ai.classify("{content}", labels=labels, ai=ai, into="category", progress=False)
    spread = ddf.ai.classify("{content}", labels=labels, ai=ai, into="category").ai.compute(progress=False)
    assert list(spread.columns) == list(single.columns)
    assert spread["category"].dtype == single["category"].dtype
    assert spread["category"].tolist() == single["category"].tolist()
    order = {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}
    single_x = df.ai.extract("{content}", schema=order, ai=ai, progress=False)
    spread_x = ddf.ai.extract("{content}", order, ai=ai).ai.compute(progress=False)
    assert list(spread_x.columns) == list(single_x.columns)
    assert spread_x["amount"].tolist() == single_x["amount"].tolist()
