"""The Redis response cache against a real redis-server."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys

import pytest
import redis

from aikit._runtime import run_sync
from aikit.client.cache import ResponseCache, cache_key, encode_value
from aikit.exceptions import ConfigError, SharedStateError
from aikit.scale.redis_cache import RedisCache, mask_redis_url, open_redis_cache

pytestmark = pytest.mark.redis

CANARY = "sk-canary-redis-pw-7f3a9"


def _key(text: str) -> str:
    return cache_key({"provider": "openai", "model": "m", "messages": [{"role": "user", "content": text}]})


def test_roundtrip_on_aikit_loop_and_on_a_fresh_loop(redis_url: str) -> None:
    cache = open_redis_cache(redis_url)
    assert isinstance(cache, ResponseCache)
    k1, k2, k3 = _key("a"), _key("b"), _key("c")
    run_sync(cache.aset(k1, {"text": "hé", "usage": {"input_tokens": 3}}))
    assert run_sync(cache.aget(k1)) == {"text": "hé", "usage": {"input_tokens": 3}}
    assert run_sync(cache.aget(k2)) is None

    async def other_loop() -> dict[str, dict[str, object]]:
        await cache.aset(k2, {"text": "two"})
        return await cache.aget_many([k1, k2, k3, k1])

    # A second, unrelated event loop (asyncio.run) gets its own connections.
    assert asyncio.run(other_loop()) == {
        k1: {"text": "hé", "usage": {"input_tokens": 3}},
        k2: {"text": "two"},
    }
    assert cache.get_many([k3, k2]) == {k2: {"text": "two"}}
    assert cache.get(k1) is not None and k1 in cache and k3 not in cache
    cache.close()


def test_values_are_byte_identical_to_the_disk_cache_encoding(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    value = {"text": "x" * 5000, "data": {"tone": "neutral"}}  # above 4 KB: compressed like on disk
    cache.set(_key("big"), value)
    raw = redis.Redis.from_url(redis_url).get("aikit:cache:" + _key("big"))
    assert raw == encode_value(value)
    assert cache.get_many([_key("big")]) == {_key("big"): value}
    cache.close()


def test_a_second_process_sees_the_entries(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    keys = [_key(str(i)) for i in range(2500)]  # more than one MGET chunk
    for i, k in enumerate(keys[:1200]):
        cache.set(k, {"i": i})
    code = (
        "import sys, json\n"
        "from aikit.scale.redis_cache import RedisCache\n"
        "c = RedisCache(sys.argv[1])\n"
        "keys = json.loads(sys.stdin.read())\n"
        "print(len(c.get_many(keys)))\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code, redis_url],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1200"
    cache.close()


def test_pickles_as_settings_and_reconnects(redis_url: str) -> None:
    cache = RedisCache(redis_url, namespace="t:", ttl_s=30)
    cache.set("k", {"v": 1})
    clone = pickle.loads(pickle.dumps(cache))
    assert (clone.url, clone.namespace, clone.ttl_s) == (redis_url, "t:", 30)
    assert clone.get("k") == {"v": 1}
    ttl = redis.Redis.from_url(redis_url).pttl("t:k")
    assert 0 < ttl <= 30_000
    cache.close()
    clone.close()


def test_clear_removes_only_its_namespace_and_corrupt_entries_are_misses(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    raw.set("other:key", b"keep")
    raw.set("aikit:cache:bad", b"\x00not json")
    cache = RedisCache(redis_url)
    for i in range(5):
        cache.set(f"k{i}", {"i": i})
    assert cache.get("bad") is None
    assert len(cache) == 6
    assert cache.clear() == 6
    assert len(cache) == 0
    assert raw.get("other:key") == b"keep"
    cache.close()


def test_refuses_non_dicts_and_secret_bearing_values(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    with pytest.raises(ConfigError):
        cache.set("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="secret"):
        run_sync(cache.aset("k", {"text": "x", "api_key": CANARY}))
    assert cache.get("k") is None
    cache.close()


def test_bad_url_and_unreachable_server_give_clear_errors_without_the_password() -> None:
    with pytest.raises(ConfigError, match="not a Redis URL"):
        RedisCache("http://127.0.0.1:1/0")
    url = f"redis://:{CANARY}@127.0.0.1:1/0"  # nothing listens on port 1
    cache = RedisCache(url)
    assert CANARY not in repr(cache)
    assert mask_redis_url(url) == "redis://***@127.0.0.1:1/0"
    with pytest.raises(SharedStateError) as info:
        cache.get_many(["k"])
    assert CANARY not in str(info.value) and "127.0.0.1:1" in str(info.value)
    with pytest.raises(SharedStateError) as ainfo:
        run_sync(cache.aget("k"))
    assert CANARY not in str(ainfo.value)
    cache.close()
