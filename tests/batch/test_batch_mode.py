"""mode="batch": df.ai and aikit.batch through the fake provider's OpenAI Batch API and Message Batches.

Every test talks HTTP over loopback to the fake provider (tests/conftest.py), whose batch APIs are put
back to quick, fault-free defaults before each test (``batches``). Failures are scripted per line with
``[[fake:...]]`` directives or drawn from the fake's per-line rates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import aikit
from aikit.client import AI
from aikit.client.providers import anthropic_batch, openai_batch
from aikit.exceptions import ConfigError, JobPendingError, ProviderHTTPError
from aikit.testing import FakeProvider, fake_reply

KEY = "sk-batch-tests-0123456789"  # what tests/batch/conftest.py has the fake require
MODEL = "fake-model"

FAST = {"validating_s": 0.02, "processing_s": 0.2, "finalizing_s": 0.02, "cancel_s": 0.02}


@pytest.fixture
def batches(fake: FakeProvider) -> Iterator[Callable[..., dict[str, Any]]]:
    """``batches(**changes)`` configures the fake's batch APIs (reset to quick defaults first)."""

    configure = fake.configure_batches
    fake.reset_batches()
    configure(
        **FAST,
        error_rate=0.0,
        expire_rate=0.0,
        drop_rate=0.0,
        fail_validation=0,
        webhook_url=None,
        max_requests=50_000,
        anthropic_max_requests=100_000,
        seed=0,
    )
    yield configure


def fake_stats(fake: FakeProvider) -> dict[str, Any]:
    return fake.batch_stats()


@pytest.fixture
def openai_ai(fake: FakeProvider, tmp_path: Path) -> Iterator[AI]:
    client = AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=str(tmp_path / "cache"))
    yield client
    client.close()


@pytest.fixture
def anthropic_ai(fake: FakeProvider, tmp_path: Path) -> Iterator[AI]:
    client = AI(
        "anthropic:claude-haiku-4-5", base_url=fake.base_url, api_key=KEY, cache=str(tmp_path / "cache")
    )
    yield client
    client.close()


def frame(n: int, extra: dict[int, str] | None = None) -> pd.DataFrame:
    texts = [f"ticket number {i}" + (extra or {}).get(i, "") for i in range(n)]
    return pd.DataFrame({"text": texts}, index=[f"r{i}" for i in range(n)])


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_answers_land_in_the_same_columns_and_cache_as_live(
    wire: str, request: pytest.FixtureRequest, batches: Callable[..., Any], fake: FakeProvider
) -> None:
    ai: AI = request.getfixturevalue(f"{wire}_ai")
    df = frame(12)
    df.loc["r11", "text"] = df.loc["r0", "text"]  # a duplicate prompt: one line, two rows
    out = df.ai.map("Summarise: {text}", ai=ai, mode="batch", wait=0.05, progress=False)
    model = "gpt-4o-mini" if wire == "openai" else "claude-haiku-4-5"
    expected = [fake_reply(model, [{"role": "user", "content": f"Summarise: {t}"}]) for t in df["text"]]
    assert out["ai_output"].tolist() == expected and out["ai_error"].isna().all()
    assert list(out.index) == list(df.index)
    assert fake_stats(fake)["stats"]["lines"] == 11  # the duplicate went once
    info = out.attrs["aikit"]
    assert info["counts"]["batch"]["answered"] == 11 and info["calls"] == 11
    before = fake.stats()["requests"]
    again = df.ai.map("Summarise: {text}", ai=ai, mode="batch", wait=0.05, progress=False)
    live = df.ai.map("Summarise: {text}", ai=ai, progress=False)  # the cache key does not depend on the mode
    assert again["ai_output"].tolist() == live["ai_output"].tolist() == expected
    assert fake.stats()["requests"] == before and fake_stats(fake)["stats"]["batches"] == 1
    assert live.attrs["aikit"]["counts"]["cached"] == 12


def test_schema_columns_cost_at_the_batch_rate_and_the_call_log(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"tone": {"enum": ["pos", "neg"]}, "score": {"type": "integer"}},
        "required": ["tone", "score"],
    }
    df = frame(20)
    out = df.ai.map(
        "Tone of: {text}",
        ai=openai_ai,
        schema=schema,
        mode="batch",
        wait=0.05,
        progress=False,
        with_meta=True,
    )
    assert str(out["tone"].dtype) == "category" and str(out["score"].dtype) == "Int64"
    assert out["tone"].notna().all()
    live_ai = AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=False)
    try:
        live = df.ai.map("Tone of: {text}", ai=live_ai, schema=schema, progress=False, with_meta=True)
    finally:
        live_ai.close()
    assert out["tone"].tolist() == live["tone"].tolist()
    assert out.attrs["aikit"]["cost_usd"] == pytest.approx(live.attrs["aikit"]["cost_usd"] * 0.5)
    assert (out["ai_cost_usd"] * 2).round(12).tolist() == live["ai_cost_usd"].round(12).tolist()
    calls = openai_ai.calls()
    batch_rows = calls[calls["mode"] == "batch"]
    assert len(batch_rows) == 20 and set(batch_rows["outcome"]) == {"ok"}
    assert batch_rows["cost_usd"].sum() == pytest.approx(out["ai_cost_usd"].sum())
    job_rows = calls[calls["mode"] == "job"]
    assert len(job_rows) >= 4 and job_rows["cache_key"].isna().all()  # upload, create, poll(s), download
    assert openai_ai.stats()["cost_usd"] == pytest.approx(out["ai_cost_usd"].sum())


def test_every_failure_kind_is_reconciled(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider
) -> None:
    extra = {
        1: " [[fake:status=400]]",  # a final per-line error: kept with the provider's message
        2: " [[fake:batch=drop]]",  # silently missing from the output, every time: gives up after 3
        3: " [[fake:batch=expire]]",  # never run before the window closed, every time
        4: " [[fake:status=503,times=1]]",  # retryable, first submission only: answered on the second
        5: " [[fake:batch=drop,times=1]]",  # missing once: answered on the second
        6: " [[fake:invalid_json,times=1]]",  # output that fails the schema once
    }
    df = frame(10, extra)
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    out = df.ai.map("Label: {text}", ai=openai_ai, schema=schema, mode="batch", wait=0.05, progress=False)
    errors = out["ai_error"]
    assert errors["r1"].startswith("ProviderHTTPError: HTTP 400: scripted 400")
    assert errors["r2"].startswith("JobError: not answered after 3 provider batches")
    assert errors["r3"].startswith("JobError: not answered after 3 provider batches")
    assert errors.drop(["r1", "r2", "r3"]).isna().all()
    assert out["label"].notna().sum() == 7
    counts = out.attrs["aikit"]["counts"]["batch"]
    assert counts["answered"] == 7 and counts["failed"] == 1
    assert counts["missing"] == 4 and counts["expired"] == 3 and counts["retryable"] == 1
    assert counts["invalid"] == 1 and counts["batches"] == 3
    assert counts["resubmitted"] == 5 + 2  # round 2: r2 r3 r4 r5 r6; round 3: r2 r3
    assert fake_stats(fake)["stats"]["batches"] == 3


def test_fallback_live_sends_the_rest_live(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider
) -> None:
    df = frame(6, {2: " [[fake:batch=drop]]", 3: " [[fake:batch=expire]]"})
    before = fake.stats()["by_path"].get("/chat/completions", 0)
    out = df.ai.map("S: {text}", ai=openai_ai, mode="batch", fallback="live", wait=0.05, progress=False)
    assert out["ai_error"].isna().all() and out["ai_output"].notna().all()
    assert fake.stats()["by_path"]["/chat/completions"] - before == 2
    assert out.attrs["aikit"]["counts"]["batch"]["live"] == 2


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_batch_that_fails_validation(
    wire: str, request: pytest.FixtureRequest, batches: Callable[..., Any]
) -> None:
    ai: AI = request.getfixturevalue(f"{wire}_ai")
    batches(fail_validation=1)
    df = frame(4)
    out = df.ai.map("S: {text}", ai=ai, mode="batch", wait=0.05, progress=False)
    assert out["ai_error"].str.contains("rejected the batch").all()
    batches(fail_validation=1)
    out = df.ai.map("T: {text}", ai=ai, mode="batch", fallback="live", wait=0.05, progress=False)
    assert out["ai_error"].isna().all()
    assert out.attrs["aikit"]["counts"]["batch"]["live"] == 4


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_splits_past_the_provider_limits(
    wire: str,
    request: pytest.FixtureRequest,
    batches: Callable[..., Any],
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ai: AI = request.getfixturevalue(f"{wire}_ai")
    module = openai_batch.OpenAIBatchAPI if wire == "openai" else anthropic_batch.AnthropicBatchAPI
    monkeypatch.setattr(module, "limits", openai_batch.BatchLimits(max_requests=7, max_bytes=10**9))
    batches(
        max_requests=7, anthropic_max_requests=7
    )  # the fake refuses bigger batches, as the real limits do
    out = frame(30).ai.map("S: {text}", ai=ai, mode="batch", wait=0.05, progress=False)
    assert out["ai_error"].isna().all()
    assert fake_stats(fake)["stats"]["batches"] == 5
    job = aikit.jobs().iloc[0]
    assert job["parts"] == 5 and len(job["remote_ids"]) == 5 and job["counts"] == {"answered": 30}


def test_splits_by_bytes(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_batch.OpenAIBatchAPI, "limits", openai_batch.BatchLimits(10**6, 2_000))
    batches(max_bytes=2_000)
    out = frame(40).ai.map("S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False)
    assert out["ai_error"].isna().all() and fake_stats(fake)["stats"]["batches"] > 1


def test_wait_false_returns_a_handle(openai_ai: AI, batches: Callable[..., Any]) -> None:
    batches(processing_s=1.0)
    job = frame(5).ai.map("S: {text}", ai=openai_ai, mode="batch", wait=False, progress=False)
    assert "BatchJob job_" in repr(job)
    status = job.status()
    assert status["status"] == "running" and status["parts"][0]["status"] in ("validating", "in_progress")
    with pytest.raises(JobPendingError, match="still running"):
        job.result()
    out = job.wait(wait=0.05)
    assert isinstance(out, pd.DataFrame) and out["ai_error"].isna().all()
    assert job.result() is out
    assert aikit.jobs().iloc[0]["status"] == "done"


def test_cancel_keeps_what_was_already_produced(anthropic_ai: AI, batches: Callable[..., Any]) -> None:
    batches(processing_s=2.0)
    job = frame(40).ai.map("S: {text}", ai=anthropic_ai, mode="batch", wait=False, progress=False)
    import time

    time.sleep(1.0)  # about half the lines are done
    job.cancel()
    out = job.wait(wait=0.05)
    answered = out["ai_output"].notna().sum()
    assert 5 < answered < 35
    assert out["ai_error"].dropna().str.startswith("JobError: cancelled").all()
    assert answered + out["ai_error"].notna().sum() == 40
    assert aikit.jobs().iloc[0]["status"] == "cancelled"


def test_aikit_batch_and_the_estimate_price_at_the_batch_rate(
    openai_ai: AI, batches: Callable[..., Any]
) -> None:
    prompts = [f"Say {i}" for i in range(5)]
    from aikit._batch.api import estimate

    live = estimate(prompts, ai=openai_ai)
    assert estimate(prompts, ai=openai_ai, mode="batch").cost_usd == pytest.approx(live.cost_usd * 0.5)
    res = aikit.batch(prompts, ai=openai_ai, mode="batch", wait=0.05, progress=False)
    assert [r.ok for r in res] == [True] * 5 and res.summary()["batch"]["answered"] == 5


def test_budget_stops_submitting(openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider) -> None:
    out = frame(10).ai.map(
        "S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False, budget_usd=2e-4
    )
    assert out["ai_error"].str.startswith("BudgetExceededError: not submitted").sum() >= 1
    assert 0 < out["ai_output"].notna().sum() < 10
    assert fake_stats(fake)["stats"]["lines"] == out["ai_output"].notna().sum()


def test_on_error_raise(openai_ai: AI, batches: Callable[..., Any]) -> None:
    with pytest.raises(ProviderHTTPError, match="scripted 400"):
        frame(3, {1: " [[fake:status=400]]"}).ai.map(
            "S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False, on_error="raise"
        )


def test_providers_without_a_batch_api_and_bad_options(
    make_ai: Callable[..., AI], batches: Callable[..., Any]
) -> None:
    with pytest.raises(ConfigError, match="mode must be one of"):
        frame(1).ai.map("{text}", ai=make_ai(), mode="bulk")
    with pytest.raises(ConfigError, match="wait must be True, False"):
        frame(1).ai.map("{text}", ai=make_ai(), mode="batch", wait="soon")
    with pytest.raises(ConfigError, match="fallback must be one of"):
        frame(1).ai.map("{text}", ai=make_ai(), mode="batch", fallback="never")
    ollama = AI("ollama:llama3.2", cache=False)
    with pytest.raises(ConfigError, match="ollama has none"):
        frame(1).ai.map("{text}", ai=ollama, mode="batch")


def test_compat_servers_with_a_batch_api(make_ai: Callable[..., AI], batches: Callable[..., Any]) -> None:
    out = frame(3).ai.map("S: {text}", ai=make_ai(), mode="batch", wait=0.05, progress=False)
    assert out["ai_output"].tolist() == [
        fake_reply(MODEL, [{"role": "user", "content": f"S: ticket number {i}"}]) for i in range(3)
    ]


def test_log_view_shows_the_provider_counts(
    openai_ai: AI, batches: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from aikit._batch.progress import LogView

    view = LogView()
    frame(5).ai.map("S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=view)
    text = "\n".join(view.lines)
    assert "| openai " in text and " completed, 0 failed | waited 0:0" in text
    assert "batch API: 1 batches, 5 answered" in view.lines[-1]


def test_no_secret_in_the_job_store_or_the_call_log(
    openai_ai: AI, batches: Callable[..., Any], aikit_home: Path
) -> None:
    frame(3).ai.map("S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False)
    openai_ai.calls()  # flushes the call log
    store = aikit_home / "jobs.sqlite"
    assert store.stat().st_mode & 0o777 == 0o600 and store.parent.stat().st_mode & 0o077 == 0
    for path in aikit_home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT COUNT(*) FROM items").fetchone() == (3,)
