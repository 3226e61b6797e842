"""Connector fixtures: the demo CRM on 127.0.0.1 (real server, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_testkit import TOKEN

from aikit.local.crm import DemoCRM


@pytest.fixture(scope="module")
def crm_ro() -> Iterator[DemoCRM]:
    """A seeded demo CRM shared by a module; tests must not write to it."""
    with DemoCRM(token=TOKEN) as server:
        yield server


@pytest.fixture
def crm() -> Iterator[DemoCRM]:
    """A fresh seeded demo CRM with HubSpot's default limit (100 requests per 10 s)."""
    with DemoCRM(token=TOKEN) as server:
        yield server
