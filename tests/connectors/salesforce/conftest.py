"""Salesforce connector fixtures: the demo org over HTTPS on 127.0.0.1 and aikit clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import aikit
from aikit.local.salesforce import DemoSalesforce


@pytest.fixture(scope="module")
def org_ro() -> Iterator[DemoSalesforce]:
    """A seeded org shared by a module (250-record pages); tests must not write to it."""
    with DemoSalesforce(page_size=250) as org:
        yield org


@pytest.fixture
def org() -> Iterator[DemoSalesforce]:
    with DemoSalesforce(page_size=250) as server:
        yield server


@pytest.fixture
def client() -> Iterator[Callable[..., aikit.Salesforce]]:
    """``client(org, **options)``: an aikit.Salesforce on the org (its session id unless auth= is given)."""
    made: list[aikit.Salesforce] = []

    def make(org: DemoSalesforce, **options: Any) -> aikit.Salesforce:
        options.setdefault("auth", org.token)
        sf = aikit.Salesforce(instance_url=org.url, ca_file=org.ca_file, **options)
        made.append(sf)
        return sf

    yield make
    for sf in made:
        sf.close()
