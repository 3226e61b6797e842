"""The fake provider's own tests: the shared server of tests/conftest.py, without an API key, put back
to the default config before each test, and small request helpers as fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aikit.testing import FakeConfig, FakeProvider

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    """The defaults: no API key (the key tests set one with ``configure``), no limits, no faults."""
    return FakeConfig()


@pytest.fixture
def fake(fake: FakeProvider, fake_config: FakeConfig) -> FakeProvider:
    """The shared server, counters reset and every config field back to ``fake_config``."""
    fake.configure(**fake_config.to_dict(include_secrets=True))
    return fake


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[httpx.Client]:
    """A client on the fake's OpenAI-style base URL."""
    with httpx.Client(base_url=fake.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def chat() -> Callable[..., httpx.Response]:
    """``chat(client, content=..., **body)``: POST one user message to ``/chat/completions``."""

    def post(client: httpx.Client, content: str = "Classify: great service", **extra: Any) -> httpx.Response:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
        return client.post("/chat/completions", json=body)

    return post


@pytest.fixture(scope="session")
def anthropic() -> Callable[..., httpx.Response]:
    """``anthropic(client, headers=None, **body)``: POST to ``/messages`` with a system prompt."""

    def anthropic(
        client: httpx.Client, headers: dict[str, str] | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "be brief", **extra}
        body.setdefault("messages", [{"role": "user", "content": "Classify: great service"}])
        return client.post("/messages", json=body, headers=ANTHROPIC_HEADERS if headers is None else headers)

    return anthropic
