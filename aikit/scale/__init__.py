"""Scale out: batches on Dask, a shared Redis response cache and a shared Redis rate limit.

Needs the extra: ``pip install "aikit[scale]"`` (dask[dataframe,distributed] and redis).

- :class:`~aikit.scale.redis_cache.RedisCache` (``aikit.AI(..., cache="redis://host:6379/0")``): the
  response cache on Redis, same keys and values as the disk cache, shared by every process.
- :class:`~aikit.scale.redis_limiter.RedisLimiter` (``limiter="redis://..."``): RPM/TPM buckets in
  Redis, updated atomically by a Lua script, so N processes together stay within a provider's limits.
- :mod:`aikit.scale.dask` is ``ddf.ai`` on Dask DataFrames, registered as soon as ``dask.dataframe``
  is imported: ``ddf.ai.map(...)`` has the pandas signature and runs each partition on a worker;
  ``out.ai.compute()`` shows progress summed over the workers, ``out.ai.summary()`` the totals.
  :func:`aikit.scale.dask.batch_on` runs ``aikit.batch`` on a ``distributed.Client``.
- :class:`~aikit.scale.redis_server.LocalRedis` starts a throwaway ``redis-server`` on 127.0.0.1 for
  notebooks and tests.

Importing ``aikit.scale`` imports neither dask nor redis; the names below load on first use.

>>> from aikit.scale import LocalRedis, RedisCache  # doctest: +SKIP
>>> with LocalRedis.start() as server:  # doctest: +SKIP
...     ai = aikit.AI("openai:gpt-4o-mini", cache=RedisCache(server.url))
"""

from __future__ import annotations

from aikit import _lazy

__all__ = [
    "LocalRedis",
    "RedisBuckets",
    "RedisCache",
    "RedisLimiter",
    "limiter_key",
    "open_redis_cache",
    "open_redis_limiter",
]

_LAZY = {
    "LocalRedis": "aikit.scale.redis_server",
    "RedisBuckets": "aikit.scale.redis_limiter",
    "RedisCache": "aikit.scale.redis_cache",
    "RedisLimiter": "aikit.scale.redis_limiter",
    "limiter_key": "aikit.scale.redis_limiter",
    "open_redis_cache": "aikit.scale.redis_cache",
    "open_redis_limiter": "aikit.scale.redis_limiter",
}


__getattr__, __dir__ = _lazy.exports(__name__, _LAZY)
