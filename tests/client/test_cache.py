"""The response cache: canonical keys, the diskcache store, bulk reads, other processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aikit.client.cache import (
    CACHE_KEY_VERSION,
    DiskResponseCache,
    NullCache,
    ResponseCache,
    cache_key,
    canonical_json,
    normalize_base_url,
    open_cache,
)
from aikit.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "openai",
        "base_url": normalize_base_url("https://api.openai.com/v1"),
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0,
        "top_p": 1,
        "max_tokens": 50,
        "seed": 7,
        "stop": ["\n"],
        "schema": {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}, "required": ["label"]},
    }
    base.update(overrides)
    return base


# -- keys ---------------------------------------------------------------------------------------------
def test_key_is_versioned_sha256() -> None:
    key = cache_key(fields())
    prefix, digest = key.split(":")
    assert prefix == f"aikit{CACHE_KEY_VERSION}"
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_key_ignores_order_at_every_level() -> None:
    a = fields()
    b = dict(reversed(list(a.items())))
    b["messages"] = [dict(reversed(list(m.items()))) for m in a["messages"]]
    b["schema"] = {"required": ["label"], "properties": {"label": {"enum": ["a", "b"]}}, "type": "object"}
    assert cache_key(a) == cache_key(b)
    # list order is meaningful
    assert cache_key(fields(stop=["a", "b"])) != cache_key(fields(stop=["b", "a"]))


def test_key_treats_integral_floats_as_ints_but_not_bools() -> None:
    assert cache_key(fields(temperature=0)) == cache_key(fields(temperature=0.0))
    assert cache_key(fields(max_tokens=50)) == cache_key(fields(max_tokens=50.0))
    assert cache_key(fields(temperature=0)) != cache_key(fields(temperature=0.5))
    assert cache_key(fields(seed=1)) != cache_key(fields(seed=True))
    assert canonical_json({"x": [1.0, -0.0, 2.5, {"y": 3.0}]}) == '{"x":[1,0,2.5,{"y":3}]}'


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "anthropic"},
        {"base_url": normalize_base_url("http://127.0.0.1:8000/v1")},
        {"model": "gpt-4o"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"temperature": 0.7},
        {"top_p": 0.9},
        {"max_tokens": 51},
        {"seed": 8},
        {"stop": None},
        {"schema": None},
        {"frequency_penalty": 0.1},
    ],
)
def test_key_changes_when_any_field_changes(change: dict[str, Any]) -> None:
    assert cache_key(fields(**change)) != cache_key(fields())


def test_base_url_normalisation() -> None:
    same = [
        "https://api.openai.com/v1",
        "HTTPS://API.OPENAI.COM/v1/",
        "https://api.openai.com:443/v1",
        "https://user:sk-canary@api.openai.com/v1#frag",
        "https://api.openai.com/v1?api_key=sk-canary&token=t",
    ]
    assert {normalize_base_url(u) for u in same} == {"https://api.openai.com/v1"}
    assert normalize_base_url("http://localhost:80/v1") == "http://localhost/v1"
    assert normalize_base_url("http://localhost:8080/v1") == "http://localhost:8080/v1"
    assert normalize_base_url("http://[::1]:9000/v1/") == "http://[::1]:9000/v1"
    assert normalize_base_url("https://x.test/v1?b=2&a=1&sig=zz") == "https://x.test/v1?a=1&b=2"
    assert normalize_base_url(None) == normalize_base_url("") == ""
    # the path is meaningful
    assert normalize_base_url("https://x.test/v1") != normalize_base_url("https://x.test/v2")


def test_bad_base_url_error_hides_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        normalize_base_url("ftp://me:sk-canary@host/v1")
    assert "sk-canary" not in str(info.value)
    with pytest.raises(ConfigError):
        normalize_base_url("localhost:8000/v1")


def test_key_rejects_non_json_and_non_finite() -> None:
    with pytest.raises(ConfigError, match="JSON data"):
        cache_key({"x": object()})
    with pytest.raises(ConfigError, match="finite"):
        cache_key({"temperature": float("nan")})
    with pytest.raises(ConfigError, match="twice"):
        cache_key({"logit_bias": {1: 5, "1": 5}})
    assert cache_key({"logit_bias": {1234: -100}}) == cache_key({"logit_bias": {"1234": -100}})


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_tree = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


def _shuffled(obj: Any, seed: int) -> Any:
    if isinstance(obj, dict):
        items = list(obj.items())
        items = items[seed % (len(items) or 1) :] + items[: seed % (len(items) or 1)]
        return {k: _shuffled(v, seed + 1) for k, v in reversed(items)}
    if isinstance(obj, list):
        return [_shuffled(v, seed + 1) for v in obj]
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 1e15:
        return int(obj)
    if type(obj) is int:
        return float(obj)
    return obj


@settings(max_examples=200, deadline=None, database=None)
@given(tree=st.dictionaries(st.text(max_size=6), json_tree, max_size=6), seed=st.integers(0, 50))
def test_key_property_order_and_number_spelling(tree: dict[str, Any], seed: int) -> None:
    assert cache_key(tree) == cache_key(_shuffled(tree, seed))


# -- store ----------------------------------------------------------------------------------------------
def test_roundtrip_sync_and_async_with_unicode(tmp_path: Path) -> None:
    value = {"text": "Grüße, 東京 🚀 \u2028 done", "usage": {"input_tokens": 3, "output_tokens": 4}, "n": 1.5}
    with DiskResponseCache(tmp_path) as cache:
        assert asyncio.run(cache.aget("k")) is None
        asyncio.run(cache.aset("k", value))
        assert asyncio.run(cache.aget("k")) == value
        assert cache.get("k") == value
    with DiskResponseCache(tmp_path) as fresh:  # from disk, not memory
        assert fresh.get("k") == value
        assert fresh.get_many(["k"]) == {"k": value}


def test_values_are_json_bytes_not_pickles(tmp_path: Path) -> None:
    small = {"text": "hello"}
    big = {"text": "x" * 20_000}
    with DiskResponseCache(tmp_path) as cache:
        cache.set("small", small)
        cache.set("big", big)
        raw = cache._disk
        assert raw.get("small") == json.dumps(small, separators=(",", ":")).encode()
        assert raw.get("big")[:1] == b"z" and len(raw.get("big")) < 1000  # compressed
    with DiskResponseCache(tmp_path) as fresh:
        assert fresh.get_many(["big", "small"]) == {"big": big, "small": small}


def test_refuses_non_dict_and_secret_fields(tmp_path: Path) -> None:
    with DiskResponseCache(tmp_path) as cache:
        with pytest.raises(ConfigError):
            cache.set("k", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="secret"):
            asyncio.run(cache.aset("k", {"text": "x", "headers": {"authorization": "Bearer sk"}}))
        with pytest.raises(ConfigError, match="JSON"):
            cache.set("k", {"text": object()})
        assert cache.get("k") is None


def test_get_many_bulk_prefetch(tmp_path: Path) -> None:
    keys = [cache_key(fields(seed=i)) for i in range(1200)]  # more than two SELECT chunks
    with DiskResponseCache(tmp_path) as cache, cache._disk.transact():
        for i, key in enumerate(keys):
            if i % 3:
                cache._disk.set(key, json.dumps({"i": i}).encode())
    with DiskResponseCache(tmp_path) as cache:
        got = asyncio.run(cache.aget_many(keys))
        assert len(got) == 800
        assert all(got[k] == {"i": i} for i, k in enumerate(keys) if i % 3)
        assert all(k not in got for i, k in enumerate(keys) if i % 3 == 0)
        # now served from memory: the reader connection is not needed any more
        assert len(cache._memory) == 800
        assert cache.get_many(keys[:10]) == {k: {"i": i} for i, k in enumerate(keys[:10]) if i % 3}
        # an async bulk read does not block the loop (it runs in a worker thread)
        cache._memory.clear()

        async def both() -> tuple[dict[str, dict[str, Any]], int]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            result = await cache.aget_many(keys)
            task.cancel()
            return result, ticks

        result, ticks = asyncio.run(both())
        assert len(result) == 800 and ticks > 1


def test_second_process_sees_entries(tmp_path: Path) -> None:
    key = cache_key(fields())
    with DiskResponseCache(tmp_path) as cache:
        assert cache.get_many([key, "other"]) == {}  # opens the bulk reader before the child writes
        script = textwrap.dedent(
            f"""
            import asyncio
            from aikit.client.cache import open_cache
            c = open_cache({str(tmp_path)!r})
            asyncio.run(c.aset({key!r}, {{"text": "from child é"}}))
            c.set("other", {{"text": "second"}})
            c.close()
            """
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
        assert cache.get_many([key, "other"]) == {key: {"text": "from child é"}, "other": {"text": "second"}}
        assert asyncio.run(cache.aget(key)) == {"text": "from child é"}


def test_null_cache_stores_nothing() -> None:
    cache = open_cache(False)
    assert isinstance(cache, NullCache) and isinstance(open_cache(None), NullCache)
    asyncio.run(cache.aset("k", {"text": "x"}))
    assert asyncio.run(cache.aget("k")) is None
    assert asyncio.run(cache.aget_many(["k"])) == {} and cache.get_many(["k"]) == {}
    cache.close()


def test_open_cache_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AIKIT_CACHE_DIR", raising=False)
    default = open_cache(True)
    assert isinstance(default, DiskResponseCache) and isinstance(default, ResponseCache)
    assert default.directory == tmp_path / "home" / "cache"
    default.close()
    by_str = open_cache(str(tmp_path / "c1"))
    by_path = open_cache(tmp_path / "c2")
    assert isinstance(by_str, DiskResponseCache) and isinstance(by_path, DiskResponseCache)
    by_str.close()
    by_path.close()
    null = NullCache()
    assert open_cache(null) is null  # any object with the protocol methods is used as is
    import diskcache

    raw = diskcache.Cache(str(tmp_path / "c3"))
    wrapped = open_cache(raw)
    assert isinstance(wrapped, DiskResponseCache) and wrapped.directory == tmp_path / "c3"
    wrapped.close()
    raw.close()
    for bad in (42, "  ", object()):
        with pytest.raises(ConfigError, match="cache="):
            open_cache(bad)


def test_canary_never_reaches_cache_files(tmp_path: Path) -> None:
    canary = "sk-canary-5f2a9c"
    key = cache_key(fields(base_url=normalize_base_url(f"https://u:{canary}@api.test/v1?api_key={canary}")))
    with DiskResponseCache(tmp_path) as cache:
        cache.set(key, {"text": "ok", "base_url": normalize_base_url(f"https://api.test/v1?key={canary}")})
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_closed_cache_refuses_bulk_reads(tmp_path: Path) -> None:
    cache = DiskResponseCache(tmp_path)
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(ConfigError, match="closed"):
        cache._read_disk(["a", "b"])


def test_storage_failures_become_cache_errors(tmp_path: Path) -> None:
    from aikit.exceptions import AIKitError, CacheError

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(CacheError, match="cache=False") as info:
        open_cache(not_a_dir)
    assert isinstance(info.value, AIKitError) and str(not_a_dir) in str(info.value)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "cache.db").write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(CacheError, match="opening"):
        DiskResponseCache(garbage)


def test_damaged_values_are_misses_not_crashes(tmp_path: Path) -> None:
    with DiskResponseCache(tmp_path) as cache:
        cache._disk.set("bad1", b"\x00not json")
        cache._disk.set("bad2", b"z-not-zlib")
        cache.set("good", {"text": "ok"})
    with DiskResponseCache(tmp_path) as cache:
        assert cache.get_many(["bad1", "bad2", "good"]) == {"good": {"text": "ok"}}
        assert cache.get("bad1") is None


def test_a_busy_write_lock_never_stalls_the_event_loop(tmp_path: Path) -> None:
    # Another writer (a thread here; another process in real life) holds SQLite's write lock: the
    # entry must queue for the writer thread rather than block the caller's event loop on the lock.
    import threading

    import diskcache

    cache = DiskResponseCache(tmp_path)
    other = diskcache.Cache(str(tmp_path))
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with other.transact():
            other.set("held", b"x")  # the write takes SQLite's write lock until the transaction ends
            locked.set()
            release.wait(5)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)

    async def scenario() -> float:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.ensure_future(ticker())
        write = asyncio.ensure_future(cache.aset("k", {"text": "queued"}))
        await asyncio.sleep(0.3)
        assert not write.done()  # still waiting for the lock, off the loop
        release.set()
        await asyncio.wait_for(write, 10)
        tick.cancel()
        return max(gaps)

    try:
        worst_gap = asyncio.run(scenario())
    finally:
        release.set()
        holder.join()
        other.close()
    assert worst_gap < 0.15, f"the event loop stalled for {worst_gap:.3f} s"
    assert cache.get_many(["k"]) == {"k": {"text": "queued"}}
    cache.close()


@settings(max_examples=150, deadline=None)
@given(
    prompts=st.lists(st.text(max_size=40) | st.just("half \ud800 a pair"), min_size=1, max_size=4),
    system=st.none() | st.text(max_size=20),
    temperature=st.none() | st.sampled_from([0, 0.0, 0.7, 1e-7]),
)
def test_batch_keys_equal_the_key_of_each_request(
    prompts: list[str], system: str | None, temperature: float | None
) -> None:
    """The spliced batch keys are the one-by-one keys, whatever the text (quotes, non-ASCII, surrogates)."""
    from aikit.client.request import RequestBuilder
    from aikit.client.schema import OutputSchema

    rb = RequestBuilder(provider="compat", model="m", base_url="http://127.0.0.1:8000/v1")
    schema = OutputSchema.of({"type": "object", "properties": {"tone": {"enum": ["a", "b"]}}})
    mixed: list[Any] = [*prompts, [{"role": "user", "content": prompts[0]}]]
    for sch, extra in ((None, None), (schema, {"top_k": 3, "messages_like": '"messages":"x"'})):
        got = rb.keys(mixed, system, sch, temperature, 20, {"seed": 1}, extra)
        builds = [rb.build(p, system, sch, temperature, 20, {"seed": 1}, extra_body=extra) for p in mixed]
        want = [rb.key(req) for req in builds]
        assert got == want
