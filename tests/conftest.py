"""Shared test setup: every test gets its own AIKIT_HOME so no state leaks between tests or to ~/.cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aikit.testing import FakeConfig, FakeProvider

if TYPE_CHECKING:
    from aikit.local.oauth.server import OAuthServer


@pytest.fixture(autouse=True)
def _aikit_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("aikit-home")
    monkeypatch.setenv("AIKIT_HOME", str(home))
    for var in ("AIKIT_CACHE_DIR", "AIKIT_CALLLOG", "AIKIT_WEBHOOK_STORE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def aikit_home(_aikit_home: Path) -> Path:
    """The AIKIT_HOME directory of this test."""
    return _aikit_home


#: The API key the shared fake provider requires (``fake_config`` below); a canary for leak scans too.
FAKE_KEY = "sk-fake-provider-0123456789"


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    """The shared fake provider's configuration; a module (or a conftest) overrides this fixture."""
    return FakeConfig(api_key=FAKE_KEY)


@pytest.fixture(scope="module")
def fake_server(fake_config: FakeConfig) -> Iterator[FakeProvider]:
    """One fake provider (OpenAI and Anthropic wire formats) on 127.0.0.1 per test module."""
    with FakeProvider(fake_config) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    """The module's fake provider with its counters and buckets reset for this test."""
    fake_server.reset()
    return fake_server


@pytest.fixture
def clean_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """An empty session store, no headless/interactive overrides, a cwd without a ``.env``.

    The auth, widget and connector suites use it for every test (an autouse fixture in their conftest).
    """
    from aikit.auth import secrets

    for var in ("AIKIT_HEADLESS", "AIKIT_INTERACTIVE", "JPY_SESSION_NAME", "AIKIT_REMOTE_KERNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    secrets._SESSION.clear()
    yield
    secrets._SESSION.clear()


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    """The demo authorization server on 127.0.0.1 (fast device polling for tests)."""
    from aikit.local.oauth.server import OAuthServer

    with OAuthServer(device_interval=0.05, access_token_ttl=3600) as server:
        yield server


@pytest.fixture
def auto_server() -> Iterator[OAuthServer]:
    """Like ``oauth_server`` but ``/authorize`` grants at once (no consent page)."""
    from aikit.local.oauth.server import OAuthServer

    with OAuthServer(device_interval=0.05, auto_approve=True) as server:
        yield server
