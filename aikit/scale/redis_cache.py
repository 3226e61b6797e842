"""The response cache on Redis, shared by every process and machine of a batch.

:class:`RedisCache` speaks the same protocol as aikit's disk cache (``aget``, ``aget_many``, ``aset``,
``get_many``, ``close``) with the same keys (:func:`aikit.client.cache.cache_key`, a versioned sha256) and
the same values (the stored response as a JSON object). ``aikit.AI(..., cache="redis://host:6379/0")``
uses it; so do the Dask workers of ``ddf.ai.map``, which is how a second run of a batch, or a
partition recomputed after a worker died, makes no provider call.

Values are stored exactly as the disk cache stores them (:func:`aikit.client.cache.encode_value`:
compact UTF-8 JSON, zlib-compressed above 4 KB, secret-bearing fields refused) under
``<namespace><key>`` (default namespace ``aikit:cache:``), without expiry unless ``ttl_s`` is given.
Async methods use ``redis.asyncio`` on the running loop (aikit's loop thread for the sync API);
``get_many`` uses a sync client so it can prefetch from plain code. A password in the URL never
appears in a repr or an error message.

>>> cache = open_redis_cache("redis://127.0.0.1:6379/0")  # doctest: +SKIP
>>> cache.set("k1", {"text": "hello"})  # doctest: +SKIP
>>> cache.get_many(["k1", "k2"])  # doctest: +SKIP
{'k1': {'text': 'hello'}}
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from aikit.client.cache import decode_value, encode_value
from aikit.exceptions import ConfigError, SharedStateError

__all__ = ["RedisCache", "mask_redis_url", "open_redis_cache"]

#: Keys per MGET round trip when reading many entries.
MGET_CHUNK = 1000
#: Socket timeouts (seconds) for cache operations; a cache must never hang a batch.
SOCKET_TIMEOUT_S = 10.0


def mask_redis_url(url: str) -> str:
    """``url`` with any username/password replaced by ``***`` (safe for reprs and messages).

    >>> mask_redis_url("redis://:s3cret@cache.internal:6379/2")
    'redis://***@cache.internal:6379/2'
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def check_redis_url(url: str) -> str:
    """Return ``url`` if it is a redis URL, else raise :class:`ConfigError`."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        shown = mask_redis_url(url) if isinstance(url, str) else type(url).__name__
        raise ConfigError(f"not a Redis URL: {shown!r}; expected redis://host:port/db or rediss://...")
    return url


def _decode(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = decode_value(raw.encode() if isinstance(raw, str) else raw)
    except (ValueError, UnicodeDecodeError, zlib.error):
        return None  # a foreign or corrupt entry is a miss, never a crash
    return value if isinstance(value, dict) else None


def _chunks(keys: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


class RedisCache:
    """aikit's response cache protocol on a Redis server.

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
    namespace : str
        Prefix of every Redis key this cache writes; ``clear()`` deletes only these.
    ttl_s : float, optional
        Expire entries after this many seconds; default never.

    Examples
    --------
    >>> cache = RedisCache("redis://127.0.0.1:6379/0")  # doctest: +SKIP
    >>> await cache.aset("v1:abc", {"text": "hi"})  # doctest: +SKIP
    >>> await cache.aget("v1:abc")  # doctest: +SKIP
    {'text': 'hi'}
    """

    def __init__(self, url: str, *, namespace: str = "aikit:cache:", ttl_s: float | None = None) -> None:
        self.url = check_redis_url(url)
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._sync: redis.Redis | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"RedisCache({mask_redis_url(self.url)!r}, namespace={self.namespace!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles as its settings (sent to Dask workers); connections are opened again there.
        return (_rebuild, (self.url, self.namespace, self.ttl_s))

    def _k(self, key: str) -> str:
        return self.namespace + key

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            raise SharedStateError(
                f"Redis cache {action} failed at {mask_redis_url(self.url)}: {type(exc).__name__}: "
                f"{mask_redis_url(str(exc))}. Is the server running and the URL right?"
            ) from exc

    def _sync_client(self) -> redis.Redis:
        with self._lock:
            if self._sync is None:
                self._sync = redis.Redis.from_url(
                    self.url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
                )
            return self._sync

    def _async_client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
            )
            self._async[loop] = client
        return client

    async def aget(self, key: str) -> dict[str, Any] | None:
        """The stored value for ``key``, or None."""
        with self._translate("get"):
            raw = await self._async_client().get(self._k(key))
        return _decode(raw)

    async def aget_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{key: value}`` for the keys that are stored (missing keys are absent)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        client = self._async_client()
        for chunk in _chunks(wanted, MGET_CHUNK):
            with self._translate("get_many"):
                raws = await client.mget([self._k(k) for k in chunk])
            for key, raw in zip(chunk, raws, strict=True):
                value = _decode(raw)
                if value is not None:
                    found[key] = value
        return found

    async def aset(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-serialisable dict) under ``key``."""
        data = encode_value(value)
        with self._translate("set"):
            await self._async_client().set(self._k(key), data, px=self._ttl_ms())

    async def adelete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._translate("delete"):
            await self._async_client().delete(self._k(key))

    async def aclose(self) -> None:
        """Close the connections of the running loop (and the sync client)."""
        loop = asyncio.get_running_loop()
        client = self._async.pop(loop, None)
        if client is not None:
            await client.aclose()
        self._close_sync()

    def get(self, key: str) -> dict[str, Any] | None:
        """Sync :meth:`aget`."""
        with self._translate("get"):
            raw = self._sync_client().get(self._k(key))
        return _decode(raw)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Sync :meth:`aget_many` (used to prefetch a whole batch in a few round trips)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        client = self._sync_client()
        for chunk in _chunks(wanted, MGET_CHUNK):
            with self._translate("get_many"):
                raws: list[bytes | None] = client.mget([self._k(k) for k in chunk])  # type: ignore[assignment]
            for key, raw in zip(chunk, raws, strict=True):
                value = _decode(raw)
                if value is not None:
                    found[key] = value
        return found

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Sync :meth:`aset`."""
        data = encode_value(value)
        with self._translate("set"):
            self._sync_client().set(self._k(key), data, px=self._ttl_ms())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        with self._translate("exists"):
            return bool(self._sync_client().exists(self._k(key)))

    def __len__(self) -> int:
        return sum(1 for _ in self._scan())

    def clear(self) -> int:
        """Delete every entry under this cache's namespace; return how many were removed."""
        client = self._sync_client()
        removed = 0
        batch: list[str] = []
        for name in self._scan():
            batch.append(name)
            if len(batch) >= MGET_CHUNK:
                with self._translate("clear"):
                    removed += int(client.unlink(*batch))
                batch = []
        if batch:
            with self._translate("clear"):
                removed += int(client.unlink(*batch))
        return removed

    def close(self) -> None:
        """Close the sync client and forget async clients (their loops close their sockets)."""
        self._close_sync()
        for loop, client in list(self._async.items()):
            if not loop.is_closed() and loop.is_running():
                with contextlib.suppress(RuntimeError):  # the loop stopped in between
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        self._async.clear()

    def _close_sync(self) -> None:
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    def _scan(self) -> Iterator[str]:
        pattern = self.namespace.replace("*", r"\*").replace("?", r"\?") + "*"
        with self._translate("scan"):
            for name in self._sync_client().scan_iter(match=pattern, count=1000):
                yield name.decode() if isinstance(name, bytes) else str(name)

    def _ttl_ms(self) -> int | None:
        return None if self.ttl_s is None else max(1, int(self.ttl_s * 1000))


def _rebuild(url: str, namespace: str, ttl_s: float | None) -> RedisCache:
    return RedisCache(url, namespace=namespace, ttl_s=ttl_s)


def open_redis_cache(url: str, **options: Any) -> RedisCache:
    """The Redis response cache at ``url`` (what ``open_cache("redis://...")`` returns).

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db``.
    **options
        ``namespace=`` and ``ttl_s=``, see :class:`RedisCache`.

    Examples
    --------
    >>> cache = open_redis_cache("redis://127.0.0.1:6379/0")  # doctest: +SKIP
    >>> cache.get_many([])  # doctest: +SKIP
    {}
    """
    return RedisCache(url, **options)
