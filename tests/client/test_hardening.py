"""The AI client as a careless user drives it, over loopback against the fake provider.

Azure-style endpoints (a path before ``?api-version=``, the ``api-key`` header), unknown keyword
arguments (refused with the closest known name; ``extra_body=`` for deliberate extras; ``mode=`` in
``df.ai.map``), a relative cache directory, an answer that is not valid Unicode, a damaged call log.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import aikit
from aikit.client.cache import DiskResponseCache
from aikit.exceptions import CallLogError, ConfigError, ProviderHTTPError
from aikit.testing import FakeProvider

#: The key of the shared fake provider (``fake_config`` in the root conftest).
FAKE_KEY = "sk-fake-provider-0123456789"


def requests(fake: FakeProvider) -> int:
    return int(fake.stats()["requests"])


def azure_url(
    fake: FakeProvider, deployment: str = "gpt-4o-mini", query: str = "?api-version=2024-10-21"
) -> str:
    return f"{fake.url}/openai/deployments/{deployment}{query}"


def test_azure_deployment_url_with_api_version_and_api_key_header(fake: FakeProvider) -> None:
    ai = aikit.AI("azure:gpt-4o-mini", base_url=azure_url(fake), api_key=FAKE_KEY, cache=False)
    r = ai.chat("Say hi from Azure", max_tokens=8)
    assert r.text.startswith("fake-") and r.model == "gpt-4o-mini"
    assert fake.stats()["by_path"] == {"/openai/deployments/gpt-4o-mini/chat/completions": 1}
    chunks = list(ai.stream("Stream from Azure", max_tokens=8))
    assert "".join(chunks).startswith("fake-")
    assert repr(ai) == f"AI('azure:gpt-4o-mini', base_url='{azure_url(fake)}')"


def test_azure_without_api_version_or_with_a_bearer_key_is_refused_clearly(fake: FakeProvider) -> None:
    no_version = aikit.AI(
        "azure:gpt-4o-mini", base_url=azure_url(fake, query=""), api_key=FAKE_KEY, cache=False
    )
    with pytest.raises(ProviderHTTPError, match="api-version"):
        no_version.chat("hi")
    bearer = aikit.AI("compat:gpt-4o-mini", base_url=azure_url(fake), api_key=FAKE_KEY, cache=False)
    with pytest.raises(ProviderHTTPError) as info:  # Azure takes API keys in api-key only
        bearer.chat("hi")
    assert info.value.status == 401
    with pytest.raises(ConfigError, match="needs base_url"):
        aikit.AI("azure:gpt-4o-mini", api_key=FAKE_KEY)


def test_a_query_on_any_base_url_stays_after_the_path(fake: FakeProvider) -> None:
    ai = aikit.AI(
        "compat:fake-model", base_url=fake.base_url + "/?tenant=acme", api_key=FAKE_KEY, cache=False
    )
    assert ai.chat("hi", max_tokens=4).text.startswith("fake-")
    assert fake.stats()["by_path"] == {"/chat/completions": 1}
    assert "tenant=acme" in repr(ai)  # not a secret: shown, and part of the cache key


def test_a_misspelt_parameter_is_refused_before_any_request(fake: FakeProvider) -> None:
    ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=FAKE_KEY, cache=False)
    with pytest.raises(ConfigError) as info:
        ai.chat("hi", temprature=0)
    assert "'temprature'" in str(info.value) and "did you mean 'temperature'" in str(info.value)
    assert "extra_body" in str(info.value)
    with pytest.raises(ConfigError, match="top_k"):  # a real field, but not OpenAI's
        ai.chat("hi", top_k=5)
    with pytest.raises(ConfigError, match=r"ai\.stream"):
        ai.chat("hi", stream=True)
    claude = aikit.AI("anthropic:claude-haiku-4-5", base_url=fake.base_url, api_key=FAKE_KEY, cache=False)
    with pytest.raises(ConfigError, match="did you mean 'top_k'"):
        claude.chat("hi", topk=5)
    assert requests(fake) == 0
    assert ai.chat("hi", seed=7, top_p=0.5, max_tokens=4).text.startswith("fake-")  # known fields pass
    assert claude.chat("hi", top_k=5, max_tokens=4).text.startswith("fake-")


def test_extra_body_is_sent_as_it_is_and_keys_the_cache(fake: FakeProvider, tmp_path: Path) -> None:
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=tmp_path / "c")
    plain = ai.chat("Give JSON", max_tokens=40)
    as_json = ai.chat("Give JSON", max_tokens=40, extra_body={"response_format": {"type": "json_object"}})
    assert not plain.text.startswith("{") and as_json.text.startswith('{"answer"')  # the field arrived
    assert plain.cache_key != as_json.cache_key and requests(fake) == 2
    again = ai.chat("Give JSON", max_tokens=40, extra_body={"response_format": {"type": "json_object"}})
    assert again.cached and requests(fake) == 2
    with pytest.raises(ConfigError, match="extra_body must be a dict"):
        ai.chat("hi", extra_body=["not", "a", "dict"])


def test_mode_is_never_sent_to_the_provider_and_typos_are_refused(fake: FakeProvider) -> None:
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=False)
    frame = pd.DataFrame({"text": [f"row {i}" for i in range(5)]})
    with pytest.raises(ConfigError) as info:  # one call has no batch mode: say where it lives
        ai.chat("Summarise row 0", mode="batch")
    assert "mode='batch'" in str(info.value) and "df.ai.map" in str(info.value)
    with pytest.raises(ConfigError, match="mode must be"):  # a batch option, validated as one
        frame.ai.map("Summarise {text}", ai=ai, mode="bulk")
    with pytest.raises(ConfigError, match="temperature"):
        frame.ai.map("Summarise {text}", ai=ai, temprature=0)
    assert requests(fake) == 0
    out = frame.ai.map("Summarise {text}", ai=ai, extra_body={"user": "analyst-7"})
    assert out["ai_error"].isna().all() and requests(fake) == 5


def test_a_relative_cache_directory_is_resolved_once(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache="relcache")
    assert ai.aio.describe()["cache"] == str(tmp_path / "relcache")
    frame = pd.DataFrame({"text": [f"ticket {i}" for i in range(20)]})  # more than 16: the bulk read path
    first = frame.ai.map("Label {text}", ai=ai)
    assert first["ai_output"].str.startswith("fake-").all() and requests(fake) == 20
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    second = frame.ai.map("Label {text}", ai=ai)  # same cache, though the working directory moved
    assert second.equals(first) and requests(fake) == 20
    assert (tmp_path / "relcache" / "cache.db").exists() and not (elsewhere / "relcache").exists()
    direct = DiskResponseCache("relcache-2")
    assert direct.directory == elsewhere / "relcache-2"
    direct.close()


def test_an_answer_with_a_lone_surrogate_is_cached_not_paid_for_again(
    fake: FakeProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=tmp_path / "c")
    r = ai.chat("broken model [[fake:surrogate]]", max_tokens=30)
    assert r.text.endswith("\ud800")
    again = ai.chat("broken model [[fake:surrogate]]", max_tokens=30)
    assert again.cached and again.text == r.text and requests(fake) == 1
    assert not [rec for rec in caplog.records if "could not cache" in rec.getMessage()]
    assert ai.calls()["outcome"].tolist() == ["ok", "cache_hit"]


def test_a_prompt_with_a_lone_surrogate_is_sent_escaped(fake: FakeProvider) -> None:
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=False)
    assert ai.chat("half a pair \ud83d here", max_tokens=8).text.startswith("fake-")


def test_a_damaged_call_log_gives_a_clear_error_and_calls_still_work(
    fake: FakeProvider, aikit_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (aikit_home / "calls.sqlite").write_bytes(b"this is not a database" * 100)
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=False)
    assert ai.chat("still answered", max_tokens=4).text.startswith("fake-")
    with pytest.raises(CallLogError) as info:
        ai.calls()
    message = str(info.value)
    assert str(aikit_home / "calls.sqlite") in message and "Move it away" in message
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    with pytest.raises(ConfigError, match="unknown call-log column"):
        from aikit.client.calllog import calllog

        calllog().frame({"nope": 1})


def test_a_relative_call_log_path_works_from_any_directory(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aikit.client.calllog import CallLog

    monkeypatch.chdir(tmp_path)
    log = CallLog(Path("rel-calls.sqlite"))
    ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=FAKE_KEY, cache=False, calllog=log)
    ai.chat("logged", max_tokens=4)
    monkeypatch.chdir(os.sep)
    assert len(log.frame()) == 1 and log.path == tmp_path / "rel-calls.sqlite"
