"""The AI client over loopback against the fake provider: cache, single flight, retries, timeouts, schemas."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import aikit
from aikit.client import AsyncAI
from aikit.client.retry import RetryPolicy
from aikit.exceptions import (
    ConfigError,
    InvalidOutputError,
    MissingCredentialError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RetryExhaustedError,
)
from aikit.testing import FakeConfig, FakeProvider

KEY = "sk-test-client-0123456789"
SCHEMA = {
    "type": "object",
    "properties": {"tone": {"enum": ["positive", "neutral", "negative"]}, "score": {"type": "integer"}},
    "required": ["tone", "score"],
}


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=KEY)


def _ai(fake: FakeProvider, model: str = "openai:gpt-4o-mini", **kw: Any) -> aikit.AI:
    kw.setdefault("api_key", KEY)
    return aikit.AI(model, base_url=fake.base_url, **kw)


def test_chat_returns_a_full_response_and_caches_it(fake: FakeProvider) -> None:
    ai = _ai(fake)
    r = ai.chat("Classify: the invoice is wrong", system="Be terse.", temperature=0, max_tokens=20)
    assert r.text.startswith("fake-") and not r.cached and r.attempts == 1
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0 and r.model == "gpt-4o-mini"
    assert r.cost_usd == pytest.approx((r.usage.input_tokens * 0.15 + r.usage.output_tokens * 0.60) / 1e6)
    assert r.cache_key is not None and r.cache_key.startswith("aikit1:") and r.latency_s > 0
    again = ai.chat("Classify: the invoice is wrong", system="Be terse.", temperature=0.0, max_tokens=20)
    assert again.cached and again.text == r.text and again.cost_usd == 0.0 and again.saved_usd == r.cost_usd
    assert again.attempts == 0 and again.usage == r.usage and again.cache_key == r.cache_key
    assert fake.stats()["requests"] == 1
    stats = ai.stats()
    assert (stats["requests"], stats["cache_hits"], stats["http_calls"], stats["retries"]) == (2, 1, 1, 0)
    assert stats["cost_usd"] == pytest.approx(r.cost_usd) and stats["saved_usd"] == pytest.approx(r.cost_usd)


def test_keys_ignore_kwarg_and_dict_order_and_int_vs_float(fake: FakeProvider) -> None:
    ai = _ai(fake)
    props = dict(reversed(list(SCHEMA["properties"].items())))  # type: ignore[attr-defined]
    schema_reordered = {"required": ["tone", "score"], "properties": props, "type": "object"}
    a = ai.cache_key("hi", system="s", schema=SCHEMA, temperature=0, max_tokens=10, top_p=1)
    b = ai.cache_key("hi", top_p=1.0, max_tokens=10, temperature=0.0, schema=schema_reordered, system="s")
    c = ai.cache_key([{"role": "system", "content": "s"}, {"content": "hi", "role": "user"}], schema=SCHEMA,
                     max_tokens=10, temperature=0, top_p=1)  # fmt: skip
    assert a == b == c
    assert ai.cache_key("hi", temperature=0.1) != ai.cache_key("hi", temperature=0)
    assert ai.cache_key("hi", seed=1) != ai.cache_key("hi", seed=2)
    assert ai.cache_key("hi", schema=SCHEMA) != ai.cache_key("hi")
    # over the wire: the reordered call is a hit, no second request
    first = ai.chat("hi", system="s", schema=SCHEMA, temperature=0, max_tokens=10, top_p=1)
    second = ai.chat("hi", top_p=1.0, max_tokens=10, temperature=0.0, schema=schema_reordered, system="s")
    assert second.cached and second.data == first.data and fake.stats()["requests"] == 1
    assert first.cache_key == a


def test_base_url_model_and_provider_are_in_the_key(fake: FakeProvider) -> None:
    with FakeProvider(FakeConfig(api_key=KEY)) as other:
        one, two = _ai(fake), _ai(other)
        assert one.cache_key("hi") != two.cache_key("hi")
        assert one.chat("hi").cached is False and two.chat("hi").cached is False
        assert fake.stats()["requests"] == 1 and other.stats()["requests"] == 1
    # the same server spelled differently (case, trailing slash) is the same key
    spelled = fake.base_url.replace("http://", "HTTP://") + "/"
    same = aikit.AI("openai:gpt-4o-mini", base_url=spelled, api_key=KEY)
    assert same.cache_key("hi") == _ai(fake).cache_key("hi")
    assert _ai(fake, "openai:gpt-4o").cache_key("hi") != _ai(fake).cache_key("hi")
    assert _ai(fake, "compat:gpt-4o-mini").cache_key("hi") != _ai(fake).cache_key("hi")
    # the API key is not in the key
    assert _ai(fake, api_key="sk-other").cache_key("hi") == _ai(fake).cache_key("hi")


def test_cache_hit_across_processes_makes_zero_calls(fake: FakeProvider, aikit_home: Path) -> None:
    ai = _ai(fake)
    first = ai.chat("a prompt worth caching", temperature=0, max_tokens=12)
    ai.close()
    code = (
        "import aikit, json, sys\n"
        f"ai = aikit.AI('openai:gpt-4o-mini', base_url={fake.base_url!r})\n"
        "r = ai.chat('a prompt worth caching', max_tokens=12, temperature=0.0)\n"
        "print(json.dumps([r.text, r.cached, r.attempts]))\n"
    )
    env = {**os.environ, "AIKIT_HOME": str(aikit_home), "OPENAI_API_KEY": "sk-not-needed-on-a-hit"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f'["{first.text}", true, 0]'
    assert fake.stats()["requests"] == 1


def test_identical_requests_in_flight_make_one_http_call(fake: FakeProvider) -> None:
    async def main() -> list[aikit.Response]:
        ai = AsyncAI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
        prompts = [f"[[fake:delay=0.3]] topic {i % 5}" for i in range(50)]
        rs = await asyncio.gather(*(ai.achat(p, max_tokens=8) for p in prompts))
        await ai.aclose()
        return rs

    rs = asyncio.run(main())
    assert fake.stats()["requests"] == 5
    assert sum(not r.cached for r in rs) == 5 and sum(r.cached for r in rs) == 45
    assert len({r.text for r in rs}) == 5


def test_single_flight_survives_a_cancelled_leader(fake: FakeProvider) -> None:
    async def main() -> aikit.Response:
        ai = AsyncAI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=False)
        leader = asyncio.ensure_future(ai.achat("[[fake:delay=0.3]] shared"))
        await asyncio.sleep(0.05)
        follower = asyncio.ensure_future(ai.achat("[[fake:delay=0.3]] shared"))
        await asyncio.sleep(0.05)
        leader.cancel()
        r = await follower
        await ai.aclose()
        return r

    r = asyncio.run(main())
    assert r.text.startswith("fake-") and not r.cached


def test_retry_after_is_honoured_with_jitter(fake: FakeProvider) -> None:
    waits: list[float] = []

    def observer(kind: str, info: dict[str, Any]) -> None:
        if kind == "retry":
            waits.append(info["wait_s"])

    async def main() -> list[aikit.Response]:
        ai = AsyncAI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=False)
        prompts = [f"[[fake:status=429,times=1,retry_after=0.4]] row {i}" for i in range(6)]
        rs = await asyncio.gather(*(ai.achat(p, observer=observer) for p in prompts))
        await ai.aclose()
        return rs

    t0 = time.perf_counter()
    rs = asyncio.run(main())
    assert time.perf_counter() - t0 >= 0.4
    assert all(r.attempts == 2 and r.latency_s >= 0.4 for r in rs)
    assert len(waits) == 6 and all(0.4 <= w <= 0.4 + 0.06 for w in waits)
    assert len({round(w, 6) for w in waits}) == 6  # jittered: no thundering herd
    assert fake.stats()["rate_limited"] == 6


def test_5xx_retried_with_backoff_then_gives_up_with_a_clear_error(fake: FakeProvider) -> None:
    ai = _ai(fake, retry=RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05), cache=False)
    r = ai.chat("[[fake:status=503,times=2,retry_after=0]] flaky")
    assert r.attempts == 3 and ai.stats()["retries"] == 2
    with pytest.raises(RetryExhaustedError, match=r"gave up after 3 attempts.*HTTP 500") as info:
        ai.chat("[[fake:status=500]] always broken")
    assert info.value.status == 500 and info.value.attempts == 3
    # a retry-after longer than the deadline fails at once instead of sleeping past it
    quick = _ai(fake, retry=RetryPolicy(deadline_s=2.0), cache=False)
    t0 = time.perf_counter()
    with pytest.raises(RetryExhaustedError, match=r"asked to wait 30\.0 s would pass the 2 s deadline"):
        quick.chat("[[fake:status=429,retry_after=30]] come back later")
    assert time.perf_counter() - t0 < 1.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_fails_fast_with_the_providers_message(fake: FakeProvider, status: int) -> None:
    ai = _ai(fake, cache=False)
    with pytest.raises(ProviderHTTPError, match=f"HTTP {status}.*scripted {status}") as info:
        ai.chat(f"[[fake:status={status}]] nope")
    assert info.value.status == status and info.value.attempts == 1
    assert fake.stats()["requests"] == 1 and ai.stats()["retries"] == 0


def test_wrong_key_is_a_401_without_the_key_in_the_message(fake: FakeProvider) -> None:
    ai = _ai(fake, api_key="sk-wrong-canary-77", cache=False)
    with pytest.raises(ProviderHTTPError, match="HTTP 401") as info:
        ai.chat("hi")
    assert "sk-wrong-canary-77" not in str(info.value) and "sk-wrong-canary-77" not in repr(ai)


def test_timeout_on_a_hung_response(fake: FakeProvider) -> None:
    ai = _ai(fake, timeout=0.5, retry=RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.01), cache=False)
    t0 = time.perf_counter()
    with pytest.raises(RetryExhaustedError, match=r"no answer within 0\.5 s") as info:
        ai.chat("[[fake:hang]] never answers")
    elapsed = time.perf_counter() - t0
    assert isinstance(info.value.__cause__, ProviderTimeoutError)
    assert 1.0 <= elapsed < 3.0 and info.value.attempts == 2
    deadline = time.monotonic() + 3
    while fake.stats()["disconnects"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.stats()["disconnects"] == 2  # the client hung up: no request left dangling
    # a timed-out first attempt is retried and the second attempt succeeds
    r = ai.chat("[[fake:hang,times=1]] answers the second time")
    assert r.attempts == 2


def test_connection_refused_is_retried_then_reported(fake: FakeProvider) -> None:
    policy = RetryPolicy(max_attempts=2, base_s=0.01)
    ai = aikit.AI("compat:m", base_url="http://127.0.0.1:9/v1", retry=policy, cache=False)
    with pytest.raises(RetryExhaustedError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        ai.chat("hi")


def test_schema_output_is_validated_and_parsed(fake: FakeProvider) -> None:
    ai = _ai(fake)
    r = ai.chat("Classify: great service", schema=SCHEMA)
    assert r.data["tone"] in ("positive", "neutral", "negative") and isinstance(r.data["score"], int)
    claude = _ai(fake, "anthropic:claude-haiku-4-5")
    rc = claude.chat("Classify: great service", schema=SCHEMA)
    assert set(rc.data) == {"tone", "score"}


def test_invalid_output_is_retried_once_then_raises_and_is_never_cached(fake: FakeProvider) -> None:
    ai = _ai(fake)
    r = ai.chat("[[fake:invalid_json,times=1]] classify", schema=SCHEMA)
    assert r.attempts == 2 and r.data is not None
    assert ai.chat("[[fake:invalid_json,times=1]] classify", schema=SCHEMA).cached
    with pytest.raises(InvalidOutputError, match="did not match the schema, twice"):
        ai.chat("[[fake:invalid_json]] classify again", schema=SCHEMA)
    before = fake.stats()["requests"]
    with pytest.raises(InvalidOutputError):
        ai.chat("[[fake:invalid_json]] classify again", schema=SCHEMA)
    assert fake.stats()["requests"] == before + 2  # nothing was cached


def test_pydantic_schema_gives_model_instances_also_from_the_cache(fake: FakeProvider) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Tone(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        tone: str
        score: int

    ai = _ai(fake)
    r = ai.chat("Classify: slow delivery", schema=Tone)
    hit = ai.chat("Classify: slow delivery", schema=Tone)
    assert isinstance(r.data, Tone) and isinstance(hit.data, Tone) and hit.cached and hit.data == r.data


def test_per_call_cache_modes(fake: FakeProvider) -> None:
    ai = _ai(fake)
    assert ai.chat("q", cache="read_only").cached is False
    assert ai.chat("q", cache="read_only").cached is False  # read_only never writes
    assert fake.stats()["requests"] == 2
    ai.chat("q")
    assert ai.chat("q").cached
    refreshed = ai.chat("q", cache="refresh")
    assert not refreshed.cached and fake.stats()["requests"] == 4
    off = ai.chat("q", cache="off")
    assert not off.cached and off.cache_key is None and fake.stats()["requests"] == 5
    assert ai.chat("q", cache="read_only").cached
    with pytest.raises(ConfigError, match=r"cache= must be True, False or one of .*got 'sometimes'"):
        ai.chat("q", cache="sometimes")
    nocache = _ai(fake, cache=False)
    assert not nocache.chat("q").cached and not nocache.chat("q").cached


def test_per_call_cache_true_and_false_are_use_and_off(fake: FakeProvider) -> None:
    """Users write ``cache=False`` per call, as in the constructor: it means "off"; True means "use"."""
    ai = _ai(fake)
    first = ai.chat("per-call", cache=False)
    assert not first.cached and first.cache_key is None  # off: neither read nor written
    assert not ai.chat("per-call", cache=True).cached  # use: nothing was written by the call above
    assert ai.chat("per-call", cache=True).cached
    assert ai.chat("per-call", cache=False).cached is False and fake.stats()["requests"] == 3
    streamed = ai.stream("per-call", cache=False)
    assert "".join(streamed) and streamed.response is not None and not streamed.response.cached
    assert fake.stats()["requests"] == 4


def test_cached_bulk_lookup_and_estimates(fake: FakeProvider) -> None:
    ai = _ai(fake)
    ai.chat("one", max_tokens=5)
    keys = [ai.cache_key("one", max_tokens=5), ai.cache_key("two", max_tokens=5)]
    found = ai.cached(keys)
    assert list(found) == [keys[0]] and found[keys[0]].cached and found[keys[0]].text.startswith("fake-")
    assert ai.estimate_tokens("x" * 40, system="y" * 40, max_tokens=5) == (28, 5)
    assert ai.price(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert _ai(fake, "compat:my-model").price(10, 10) is None
    assert _ai(fake, "compat:my-model").chat("priced?").cost_usd is None


def test_streaming_both_formats_caches_and_replays(fake: FakeProvider) -> None:
    for model in ("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"):
        ai = _ai(fake, model)
        fake.configure(reply_words=12)
        stream = ai.stream("Tell a story", max_tokens=40)
        chunks = list(stream)
        assert len(chunks) > 3 and stream.response is not None and not stream.response.cached
        assert "".join(chunks) == stream.response.text and stream.response.usage.output_tokens > 0
        replay = ai.stream("Tell a story", max_tokens=40)
        assert (
            "".join(replay) == stream.response.text and replay.response is not None and replay.response.cached
        )
        assert ai.chat("Tell a story", max_tokens=40).text == stream.response.text  # same key as chat
        fake.configure(reply_words=0)
    assert fake.stats()["requests"] == 2


def test_async_api_and_observer_events(fake: FakeProvider) -> None:
    events: list[str] = []

    async def main() -> None:
        ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
        r = await ai.achat(
            "[[fake:status=502,times=1,retry_after=0]] x", observer=lambda k, i: events.append(k)
        )
        assert r.attempts == 2
        await ai.achat("[[fake:status=502,times=1,retry_after=0]] x", observer=lambda k, i: events.append(k))
        chunks = [c async for c in ai.astream("streamed", observer=lambda k, i: events.append(k))]
        assert chunks
        with pytest.raises(ProviderHTTPError):
            await ai.achat("FAIL400", observer=lambda k, i: 1 / 0)  # a broken observer changes nothing
        await ai.aio.aclose()

    asyncio.run(main())
    assert events == ["start", "retry", "start", "done", "done", "start", "done"]


def test_missing_key_names_the_variable_and_env_dotenv_order(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AIKIT_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False)
    with pytest.raises(MissingCredentialError, match="OPENAI_API_KEY") as info:
        ai.chat("hi")
    assert info.value.variable == "OPENAI_API_KEY"
    (tmp_path / ".env").write_text(f"# keys\nexport OPENAI_API_KEY='{KEY}'\n")
    assert aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False).chat("hi").text
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-wins-over-dotenv")
    with pytest.raises(ProviderHTTPError, match="401"):
        aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False).chat("hi")
    assert _ai(fake, cache=False).chat("hi").text  # explicit wins over both
    with pytest.raises(MissingCredentialError, match="ANTHROPIC_API_KEY"):
        aikit.AI("anthropic:claude-haiku-4-5", base_url=fake.base_url, cache=False).chat("hi")


def test_describe_round_trips_without_the_key(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, rpm=600, timeout=5, cache=False)
    d = ai.describe()
    assert d["api_key"] is None and KEY.encode() not in pickle.dumps(d)
    clone = aikit.AI.from_description(pickle.loads(pickle.dumps(d)))
    assert clone.describe() == d and clone.aio.limiter.rpm == 600
    assert clone.chat("hi").text.startswith("fake-")
    explicit = _ai(fake, cache=False)
    assert explicit.describe()["api_key"] is None  # an explicit key is not shipped by default either
    shipped = explicit.describe(include_key=True)  # ... only when asked for, as plain text
    assert shipped["api_key"] == KEY
    assert aikit.AI.from_description(pickle.loads(pickle.dumps(shipped))).chat("hi").text.startswith("fake-")


def test_describe_with_include_key_never_ships_a_key_from_the_environment(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, cache=False)
    ai.chat("resolve the key first")
    d = ai.describe(include_key=True)
    assert d["api_key"] is None and KEY.encode() not in pickle.dumps(d)


def test_calls_dataframe_has_one_row_per_attempt_outcome(fake: FakeProvider) -> None:
    ai = _ai(fake)
    ai.chat("[[fake:status=503,times=1,retry_after=0]] logged")
    ai.chat("[[fake:status=503,times=1,retry_after=0]] logged")
    with pytest.raises(ProviderHTTPError):
        ai.chat("FAIL400")
    df = ai.calls()
    df = df[df.session == ai.session]
    assert list(df.outcome) == ["retry", "ok", "cache_hit", "error"]
    assert list(df.status.astype("float").fillna(0).astype(int)) == [503, 200, 0, 400]
    assert list(df.attempt) == [1, 2, 0, 1] and list(df.cache_hit) == [False, False, True, False]
    ok = df[df.outcome == "ok"].iloc[0]
    assert ok.input_tokens > 0 and ok.cost_usd > 0 and ok.latency_s > 0 and ok.base_url == fake.base_url
    assert "FAIL400" in df.iloc[3].error


def test_canary_key_appears_in_no_file_under_aikit_home(fake: FakeProvider, aikit_home: Path) -> None:
    canary = "sk-canary-5c1f0e9d7a"
    fake.configure(api_key=canary)
    try:
        ai = aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=canary)
        ai.chat("secret-free prompt", schema=SCHEMA)
        ai.chat("secret-free prompt", schema=SCHEMA)
        list(ai.stream("stream me"))
        with pytest.raises(ProviderHTTPError) as info:
            ai.chat("FAIL400")
        ai.chat("[[fake:status=429,times=1,retry_after=0]] throttled")
        claude = aikit.AI("anthropic:claude-haiku-4-5", base_url=fake.base_url, api_key=canary)
        claude.chat("hello")
        assert canary not in str(info.value) and canary not in repr(ai) and canary not in repr(ai.describe())
        assert canary not in ai.calls(all=True).to_csv()
        ai.close()
        claude.close()
    finally:
        fake.configure(api_key=KEY)
    files = [p for p in aikit_home.rglob("*") if p.is_file()]
    assert any(p.name == "calls.sqlite" for p in files) and any("cache" in str(p) for p in files)
    for path in files:
        assert canary.encode() not in path.read_bytes(), path
