"""``df.ai`` over loopback: typed columns on a copy aligned on the index, errors per row, lineage,
classify/extract/estimate, the async twin, and a clear error before any call for a missing column."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Literal

import pandas as pd
import pytest

import aikit
from aikit._batch.api import set_default_ai
from aikit.client import AI, pricing
from aikit.client.cache import CACHE_KEY_VERSION
from aikit.exceptions import ConfigError, ProviderHTTPError
from aikit.testing import FakeProvider, fake_reply

MODEL = "fake-model"
TONE = {
    "type": "object",
    "properties": {
        "tone": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "score": {"type": "number"},
        "votes": {"type": "integer"},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
    },
    "required": ["tone", "score", "votes", "urgent", "summary"],
}


@pytest.fixture
def tickets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": [f"Subject {i}" for i in range(12)],
            "content": [f"Body of ticket {i}" + (" FAIL400" if i == 5 else "") for i in range(12)],
        },
        index=pd.Index([f"T{100 + i}" for i in range(12)], name="ticket_id"),
    )


def calls(fake: FakeProvider) -> int:
    return int(fake.stats()["by_path"].get("/chat/completions", 0))


def test_accessor_is_registered_by_import_aikit() -> None:
    code = "import aikit, pandas as pd; print(type(pd.DataFrame({'a': [1]}).ai).__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "AIAccessor", proc.stderr


def test_map_with_schema_gives_typed_columns_on_a_copy(
    ai: AI, fake: FakeProvider, tickets: pd.DataFrame
) -> None:
    before = tickets.copy()
    out = tickets.ai.map("Classify the tone: {subject}\n{content}", ai=ai, schema=TONE)
    pd.testing.assert_frame_equal(tickets, before)  # the input is never changed
    assert list(out.index) == list(tickets.index) and out.index.name == "ticket_id"
    assert list(out.columns) == [
        "subject",
        "content",
        "tone",
        "score",
        "votes",
        "urgent",
        "summary",
        "ai_error",
    ]
    assert isinstance(out["tone"].dtype, pd.CategoricalDtype)
    assert list(out["tone"].cat.categories) == ["positive", "neutral", "negative"]
    assert (
        out["score"].dtype == "float64" and out["votes"].dtype == "Int64" and out["urgent"].dtype == "boolean"
    )
    ok = out.drop(index="T105")
    assert ok["ai_error"].map(lambda v: v is None).all()
    assert ok["tone"].notna().all() and ok["votes"].notna().all()
    failed = out.loc["T105"]
    assert failed["ai_error"].startswith("ProviderHTTPError:") and "HTTP 400" in failed["ai_error"]
    assert pd.isna(failed["tone"]) and pd.isna(failed["votes"])
    assert calls(fake) == 12


def test_map_text_into_a_column_with_meta(
    ai: AI, tickets: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pricing.PRICES, ("compat", MODEL), pricing.Price(1.0, 2.0))
    out = tickets.ai.map("Summarise: {content}", ai=ai, into="summary", with_meta=True, max_tokens=30)
    want = [fake_reply(MODEL, [{"role": "user", "content": f"Summarise: {c}"}]) for c in tickets["content"]]
    assert out["summary"].drop(index="T105").tolist() == [w for i, w in enumerate(want) if i != 5]
    assert out.loc["T105", "summary"] is None
    meta = ["ai_input_tokens", "ai_output_tokens", "ai_cost_usd", "ai_cached", "ai_latency_s", "ai_attempts"]
    assert set(meta) <= set(out.columns)
    assert (out["ai_input_tokens"].drop(index="T105") > 0).all()
    assert out["ai_attempts"].drop(index="T105").tolist() == [1] * 11
    assert not out["ai_cached"].drop(index="T105").any()
    info = out.attrs["aikit"]
    assert out["ai_cost_usd"].sum() == pytest.approx(info["cost_usd"])
    again = tickets.ai.map("Summarise: {content}", ai=ai, into="summary", with_meta=True, max_tokens=30)
    assert again["ai_cached"].drop(index="T105").all() and again["ai_cost_usd"].drop(index="T105").sum() == 0


def test_lineage_records_the_run_and_the_chain(ai: AI, tickets: pd.DataFrame) -> None:
    first = tickets.ai.map("Summarise: {content}", ai=ai, into="summary", system="Be brief.")
    info = first.attrs["aikit"]
    assert info["operation"] == "map" and info["template"] == "Summarise: {content}"
    assert info["system"] == "Be brief." and info["model"] == f"compat:{MODEL}"
    assert info["cache_key_version"] == CACHE_KEY_VERSION
    assert info["counts"]["rows"] == 12 and info["counts"]["ok"] == 11 and info["counts"]["failed"] == 1
    assert info["history"] == []
    second = first.ai.map("Title for: {subject}", ai=ai, into="title")
    chain = second.attrs["aikit"]
    assert chain["template"] == "Title for: {subject}"
    assert [h["template"] for h in chain["history"]] == ["Summarise: {content}"]
    assert "summary" in second.columns and "title" in second.columns


def test_missing_column_raises_before_any_call(ai: AI, fake: FakeProvider, tickets: pd.DataFrame) -> None:
    with pytest.raises(ConfigError) as info:
        tickets.ai.map("Classify {subjet} {body}", ai=ai)
    assert "'subjet' (did you mean 'subject'?)" in str(info.value)
    assert "Columns: 'subject', 'content'" in str(info.value)
    with pytest.raises(ConfigError):
        tickets.ai.estimate("{nope}", ai=ai)
    assert calls(fake) == 0


def test_on_error_raise(ai: AI, tickets: pd.DataFrame) -> None:
    with pytest.raises(ProviderHTTPError):
        tickets.ai.map("{content}", ai=ai, on_error="raise")


def test_classify_gives_a_categorical_label_column(ai: AI, fake: FakeProvider, tickets: pd.DataFrame) -> None:
    labels = ["billing", "bug", "feature request", "other"]
    out = tickets.ai.classify("{subject}: {content}", labels=labels, ai=ai, into="category")
    assert list(out.columns) == ["subject", "content", "category", "category_confidence", "ai_error"]
    assert isinstance(out["category"].dtype, pd.CategoricalDtype)
    assert list(out["category"].cat.categories) == labels
    assert out["category"].drop(index="T105").isin(labels).all()
    assert out.attrs["aikit"]["operation"] == "classify" and out.attrs["aikit"]["labels"] == labels
    est = tickets.ai.estimate("{subject}: {content}", ai=ai)
    # Each classify row carries the system prompt and one few-shot turn per label: far more tokens.
    assert out.attrs["aikit"]["input_tokens"] > 4 * est.input_tokens * 11 / 12
    with pytest.raises(ConfigError):
        tickets.ai.classify("{content}", labels=["only one"], ai=ai)


def test_extract_with_a_pydantic_model(ai: AI, tickets: pd.DataFrame) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Order(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        order_id: str
        amount: float | None
        quantity: int
        channel: Literal["email", "phone", "chat"]

    out = tickets.ai.extract("Extract the order from: {content}", schema=Order, ai=ai)
    assert list(out.columns)[2:] == ["order_id", "amount", "quantity", "channel", "ai_error"]
    assert out["quantity"].dtype == "Int64" and out["amount"].dtype == "float64"
    assert isinstance(out["channel"].dtype, pd.CategoricalDtype)
    assert out["order_id"].drop(index="T105").map(lambda v: isinstance(v, str)).all()
    again = tickets.ai.extract("Extract the order from: {content}", schema=Order, ai=ai)  # from the cache
    pd.testing.assert_frame_equal(out.drop(columns="ai_error"), again.drop(columns="ai_error"))
    with pytest.raises(ConfigError):
        tickets.ai.extract("{content}", schema=None, ai=ai)


def test_estimate_before_and_after(ai: AI, fake: FakeProvider, tickets: pd.DataFrame) -> None:
    est = tickets.ai.estimate("Summarise: {content}", ai=ai, max_tokens=40)
    assert (est.rows, est.cached_rows, est.calls) == (12, 0, 12)
    assert est.output_tokens == 12 * 40 and est.cost_usd is None
    tickets.iloc[:6].ai.map("Summarise: {content}", ai=ai, max_tokens=40)
    est = tickets.ai.estimate("Summarise: {content}", ai=ai, max_tokens=40)
    assert (est.rows, est.cached_rows, est.calls) == (12, 5, 7)  # row 5 failed, so it is not cached
    assert calls(fake) == 6


def test_amap_matches_map(ai: AI, tickets: pd.DataFrame) -> None:
    sync = tickets.ai.map("Summarise: {content}", ai=ai, schema=TONE)

    async def run() -> pd.DataFrame:
        return await tickets.ai.amap("Summarise: {content}", ai=ai, schema=TONE)

    out = asyncio.run(run())
    pd.testing.assert_frame_equal(sync, out)
    labelled = asyncio.run(tickets.ai.aclassify("{content}", labels=["yes", "no"], ai=ai))
    assert labelled["ai_label"].drop(index="T105").isin(["yes", "no"]).all()


def test_empty_frame(ai: AI, fake: FakeProvider) -> None:
    out = pd.DataFrame({"content": pd.Series([], dtype=object)}).ai.map("{content}", ai=ai, schema=TONE)
    assert len(out) == 0 and "tone" in out.columns and "ai_error" in out.columns
    assert calls(fake) == 0


def test_default_client_is_used_when_ai_is_none(ai: AI, tickets: pd.DataFrame) -> None:
    set_default_ai(ai)
    try:
        out = tickets.ai.map("Summarise: {content}", into="s")
    finally:
        set_default_ai(None)
    assert out["s"].notna().sum() == 11


def test_public_exports(ai: AI) -> None:
    assert {"batch", "abatch"} <= set(aikit.__all__)
    result = aikit.batch(["exported"], ai=ai, progress=False)
    assert result[0].text == fake_reply(MODEL, [{"role": "user", "content": "exported"}])
    assert asyncio.run(aikit.abatch(["exported"], ai=ai, progress=False))[0].response.cached  # type: ignore[union-attr]
