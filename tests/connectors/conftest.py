"""Connector fixtures: the demo CRM on 127.0.0.1 (real server, real SQLite) and its token.

Every test starts with an empty credential session store and no ``.env`` (``clean_credentials``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aikit.local.crm import DemoCRM


@pytest.fixture(scope="session")
def crm_token() -> str:
    """The demo CRM token in connector tests; also a canary that must never show up in output."""
    return "canary-tok-" + "7f3a9c1e5b"  # built at runtime: the literal never sits in one string


@pytest.fixture(autouse=True)
def _clean_credentials(clean_credentials: None) -> None:
    """Apply the shared ``clean_credentials`` fixture to every test here."""


@pytest.fixture(scope="module")
def crm_ro(crm_token: str) -> Iterator[DemoCRM]:
    """A seeded demo CRM shared by a module; tests must not write to it."""
    with DemoCRM(token=crm_token) as server:
        yield server


@pytest.fixture
def crm(crm_token: str) -> Iterator[DemoCRM]:
    """A fresh seeded demo CRM with HubSpot's default limit (100 requests per 10 s)."""
    with DemoCRM(token=crm_token) as server:
        yield server
