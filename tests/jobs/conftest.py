"""The job tests' setup: the fake provider's batch APIs put back to quick defaults, and a webhook listener.

``batches(**changes)`` configures the shared fake's batch APIs (``/_admin/batches/config``);
``listener`` is a running ``aikit.WebhookListener`` with an ``openai`` source (scheme ``openai``,
secret ``jobs_kit.SECRET``) whose store lives in the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobs_kit import FAST, KEY, SECRET, configure

from aikit.client import AI
from aikit.testing import FakeConfig, FakeProvider


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=KEY)


@pytest.fixture
def batches(fake: FakeProvider) -> Iterator[Callable[..., dict[str, Any]]]:
    httpx.post(fake.url + "/_admin/batches/reset", timeout=10).raise_for_status()
    configure(
        fake, **FAST, error_rate=0.0, expire_rate=0.0, drop_rate=0.0, fail_validation=0, webhook_url=None
    )
    yield lambda **changes: configure(fake, **changes)
    configure(fake, webhook_url=None)


@pytest.fixture
def openai_ai(fake: FakeProvider, tmp_path: Path) -> Iterator[AI]:
    client = AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=str(tmp_path / "cache"))
    yield client
    client.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Any]:
    import aikit

    hook = aikit.WebhookListener(port=0, store=tmp_path / "hooks.sqlite")
    hook.add_source("openai", scheme="openai", secret=SECRET).start()
    yield hook
    hook.stop()
