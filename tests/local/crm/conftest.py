"""Demo CRM fixtures: real servers on 127.0.0.1 (a shared read-only one and fresh per-test ones)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from aikit.local.crm import DemoCRM

#: Opens an httpx client on a demo CRM with a Bearer token (the server's own unless given).
ApiClient = Callable[..., httpx.Client]


@pytest.fixture(scope="session")
def crm_token() -> str:
    """The static Bearer token the test CRMs are started with."""
    return "test-token-4b1d"


@pytest.fixture(scope="module")
def crm_ro(crm_token: str) -> Iterator[DemoCRM]:
    """A seeded demo CRM shared by a test module; tests must not write to it."""
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None) as server:
        yield server


@pytest.fixture
def crm(crm_token: str) -> Iterator[DemoCRM]:
    """A fresh seeded demo CRM for tests that write."""
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None) as server:
        yield server


@pytest.fixture(scope="module")
def crm_api() -> Iterator[ApiClient]:
    """``crm_api(server, token=None)``: a sync httpx client for raw API calls (closed at the latest
    when the module is done)."""
    opened: list[httpx.Client] = []

    def open_client(server: DemoCRM, token: str | None = None) -> httpx.Client:
        client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token or server.token}"}, timeout=10.0
        )
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()
