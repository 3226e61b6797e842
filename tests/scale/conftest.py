"""Real servers for the scale-out tests: a redis-server child process and a multi-process Dask cluster."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from aikit.scale.redis_server import LocalRedis, find_redis_server

REDIS_MISSING = "redis-server is not installed (Debian: apt-get install redis-server; `make system-deps`)"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    """One redis-server on a free 127.0.0.1 port, no persistence, in a tmp dir; stopped at the end."""
    if find_redis_server() is None:
        pytest.skip(REDIS_MISSING)
    server = LocalRedis.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> Iterator[str]:
    """The server's URL, with the database flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    yield redis_server.url


#: The API key the workers find in their environment (the driver never ships it).
WORKER_KEY = "sk-worker-env-key-5e6f"


@pytest.fixture(scope="session")
def worker_key() -> str:
    """The API key set in the workers' environment (and required by the tests' fake provider)."""
    return WORKER_KEY


@pytest.fixture(scope="session")
def dask_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real LocalCluster: 2 worker processes, 1 thread each, on loopback, with their own AIKIT_HOME."""
    distributed = pytest.importorskip("distributed")
    import dask

    home = tmp_path_factory.mktemp("worker-home")
    # One task per worker thread at a time, so partitions really run in parallel on both workers.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
            env={"AIKIT_HOME": str(home), "AIKIT_API_KEY": WORKER_KEY},
        )
    client = distributed.Client(cluster)
    # Import the batch stack once per worker up front, so each test times its work, not imports
    # (jsonschema alone can take seconds to import on a busy machine).
    for module in ("aikit.scale.dask", "aikit.client", "aikit._batch.accessor", "jsonschema"):
        client.run(importlib.import_module, module)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
