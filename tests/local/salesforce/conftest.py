"""Demo Salesforce org fixtures: real HTTPS servers on 127.0.0.1 and simple-salesforce clients for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from aikit.local.salesforce import DemoSalesforce


def trusting_session(org: DemoSalesforce) -> requests.Session:
    """A requests session that trusts the demo CA (and ignores REQUESTS_CA_BUNDLE, which would win)."""
    session = requests.Session()
    session.verify = str(org.ca_file)
    session.trust_env = False
    return session


@pytest.fixture(scope="module")
def org_ro() -> Iterator[DemoSalesforce]:
    """A seeded org shared by a module (small query pages, so paging is exercised); do not write to it."""
    with DemoSalesforce(page_size=250) as org:
        yield org


@pytest.fixture
def org() -> Iterator[DemoSalesforce]:
    """A fresh seeded org for tests that write."""
    with DemoSalesforce(page_size=250) as server:
        yield server


@pytest.fixture
def trusted() -> Callable[[DemoSalesforce], requests.Session]:
    """``trusted(org)``: a requests session that trusts the org's CA."""
    return trusting_session


@pytest.fixture
def simple_sf() -> Iterator[Callable[[DemoSalesforce], object]]:
    """``simple_sf(org)``: simple-salesforce on the org with a session id (direct mode)."""
    from simple_salesforce import Salesforce

    opened: list[requests.Session] = []

    def make(org: DemoSalesforce) -> object:
        session = trusting_session(org)
        opened.append(session)
        return Salesforce(instance_url=org.url, session_id=org.token, session=session)

    yield make
    for session in opened:
        session.close()
