"""Fixtures shared by the auth and widget tests: a local authorization server, clean credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aikit.auth import secrets as secrets_mod
from aikit.local.oauth.server import OAuthServer

#: Built at runtime so the literal never appears in a source file that a leak scan would read.
CANARY = "sk-CANARY-" + "7f3a9c1e5b"


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    """The demo authorization server on 127.0.0.1 (fast device polling for tests)."""
    server = OAuthServer(device_interval=0.05, access_token_ttl=3600).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auto_server() -> Iterator[OAuthServer]:
    """Like ``oauth_server`` but ``/authorize`` grants at once (no consent page)."""
    server = OAuthServer(device_interval=0.05, auto_approve=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _clean_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No session values, no headless/interactive overrides, cwd without a .env."""
    for var in ("AIKIT_HEADLESS", "AIKIT_INTERACTIVE", "JPY_SESSION_NAME", "AIKIT_REMOTE_KERNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    secrets_mod._SESSION.clear()
    yield
    secrets_mod._SESSION.clear()
