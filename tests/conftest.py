"""Shared test setup: every test gets its own AIKIT_HOME so no state leaks between tests or to ~/.cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aikit.testing import FakeConfig, FakeProvider


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
