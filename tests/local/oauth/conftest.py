"""OAuth demo server fixtures: a real authorization server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aikit.local.oauth import OAuthServer


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    """The demo authorization server (fast device polling for tests)."""
    with OAuthServer(device_interval=0.05, access_token_ttl=3600) as server:
        yield server
