"""Fallback chains against two real fake providers: outages, context overflow, a missing key; per
row, with the answering model recorded, every row answered once, and each model's own cache."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import aikit
from aikit.client.retry import RetryPolicy
from aikit.exceptions import ContextOverflowError, ProviderHTTPError, RetryExhaustedError
from aikit.testing import FakeConfig, FakeProvider
from tests.conftest import FAKE_KEY

FAST = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02, deadline_s=30)
CONTEXT = 120  # tokens the first provider's model takes


@pytest.fixture(scope="module")
def second() -> Iterator[FakeProvider]:
    with FakeProvider(FakeConfig(api_key=FAKE_KEY)) as server:
        yield server


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=FAKE_KEY, context_tokens=CONTEXT)


def _chain(first: FakeProvider, second: FakeProvider, **kw: object) -> aikit.AI:
    backup = aikit.AI("compat:gpt-4o", base_url=second.base_url, api_key=FAKE_KEY, retry=FAST)
    return aikit.AI(
        "compat:gpt-4o-mini", base_url=first.base_url, api_key=FAKE_KEY, retry=FAST, fallbacks=[backup], **kw
    )  # type: ignore[arg-type]


def test_rows_move_to_the_next_model_on_529_and_context_overflow(
    fake: FakeProvider, second: FakeProvider
) -> None:
    second.reset()
    n = 100
    kinds = ["outage" if i % 10 < 3 else ("long" if i % 10 == 3 else "ok") for i in range(n)]
    texts = []
    for i, kind in enumerate(kinds):
        if kind == "outage":  # the first provider is overloaded for these rows; the second is not
            texts.append(f"ticket {i} [[fake:status=529,retry_after=0.01,only=gpt-4o-mini]]")
        elif kind == "long":
            texts.append(f"ticket {i} " + "very long complaint " * 40)
        else:
            texts.append(f"ticket {i}")
    df = pd.DataFrame({"text": texts, "kind": kinds})
    ai = _chain(fake, second)
    assert ai.model_spec == "compat:gpt-4o-mini -> compat:gpt-4o"
    out = df.ai.map("Answer: {text}", ai=ai, into="answer", progress=False)
    assert out["ai_error"].isna().all()  # 0 rows lost
    want = {"ok": "gpt-4o-mini", "outage": "gpt-4o", "long": "gpt-4o"}
    assert out["ai_model"].tolist() == [want[k] for k in kinds]  # each row's answering model
    first_ok = fake.stats()["by_status"].get("200", 0)
    assert first_ok == kinds.count("ok")  # no row answered twice: the first answered only its rows
    assert second.stats()["requests"] == kinds.count("outage") + kinds.count("long")
    assert fake.stats()["by_status"].get("529", 0) == 2 * kinds.count("outage")  # retried, then moved on
    assert fake.stats()["by_status"].get("400", 0) == kinds.count("long")  # not retried: it cannot fit
    calls = ai.calls(all=True)
    answered = calls[calls["outcome"] == "ok"]
    assert sorted(answered["model"].value_counts().to_dict().items()) == [("gpt-4o", 40), ("gpt-4o-mini", 60)]

    before = (fake.stats()["requests"], second.stats()["requests"])
    again = df.ai.map("Answer: {text}", ai=_chain(fake, second), into="answer", progress=False)
    assert (fake.stats()["requests"], second.stats()["requests"]) == before  # each model's own cache
    assert again["ai_model"].tolist() == out["ai_model"].tolist()
    assert again["answer"].tolist() == out["answer"].tolist()
    assert again["answer"].str.startswith("fake-").all()


def test_errors_that_another_model_would_get_too_are_raised(fake: FakeProvider, second: FakeProvider) -> None:
    second.reset()
    ai = _chain(fake, second, cache=False)
    with pytest.raises(ProviderHTTPError, match="FAIL400"):
        ai.chat("please FAIL400 now")
    assert second.stats()["requests"] == 0
    alone = aikit.AI("compat:gpt-4o-mini", base_url=fake.base_url, api_key=FAKE_KEY, cache=False, retry=FAST)
    with pytest.raises(ContextOverflowError, match="maximum context length"):
        alone.chat("word " * 600)
    with pytest.raises(RetryExhaustedError):
        alone.chat("x [[fake:status=529,retry_after=0.01]]")


def test_a_list_and_a_missing_key_move_on(
    fake: FakeProvider, second: FakeProvider, monkeypatch: pytest.MonkeyPatch, clean_credentials: None
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AIKIT_API_KEY", raising=False)
    backup = aikit.AI("compat:gpt-4o", base_url=second.base_url, api_key=FAKE_KEY, cache=False)
    ai = aikit.AI(["openai:gpt-4o-mini", backup], cache=False)
    r = ai.chat("hi")
    assert r.model == "gpt-4o" and ai.fallbacks[0] is backup.aio
    rebuilt = aikit.AI.from_description(ai.describe())
    assert rebuilt.model_spec == ai.model_spec


def test_anthropic_overflow_is_read_from_its_message() -> None:
    with FakeProvider(FakeConfig(api_key=FAKE_KEY, context_tokens=50)) as server:
        ai = aikit.AI("anthropic:claude-haiku-4-5", base_url=server.base_url, api_key=FAKE_KEY, cache=False)
        with pytest.raises(ContextOverflowError, match="prompt is too long"):
            ai.chat("word " * 400)
