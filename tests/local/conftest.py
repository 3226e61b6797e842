"""Demo CRM fixtures: real servers on 127.0.0.1 (a shared read-only one and fresh per-test ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_testkit import TOKEN

from aikit.local.crm import DemoCRM


@pytest.fixture(scope="module")
def crm_ro() -> Iterator[DemoCRM]:
    """A seeded demo CRM shared by a test module; tests must not write to it."""
    with DemoCRM(token=TOKEN, rate_limit=None, search_per_second=None) as server:
        yield server


@pytest.fixture
def crm() -> Iterator[DemoCRM]:
    """A fresh seeded demo CRM for tests that write."""
    with DemoCRM(token=TOKEN, rate_limit=None, search_per_second=None) as server:
        yield server
