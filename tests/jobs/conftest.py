"""The job tests' setup: the fake provider's batch APIs put back to quick defaults, and a webhook listener.

``batches(**changes)`` configures the shared fake's batch APIs (``/_admin/batches/config``);
``listener`` is a running ``aikit.WebhookListener`` with an ``openai`` source (scheme ``openai``,
secret ``webhook_secret``) whose store lives in the test's tmp dir.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aikit.client import AI
from aikit.testing import FakeConfig, FakeProvider

#: The key the jobs tests' fake provider requires (a canary for leak scans too).
KEY = "sk-jobs-tests-0123456789"
#: Quick batch timings, so a job finishes in a fraction of a second.
FAST = {"validating_s": 0.02, "processing_s": 0.2, "finalizing_s": 0.02, "cancel_s": 0.02}


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    """The webhook signing secret, as OpenAI hands them out: whsec_ + base64 of random bytes."""
    return "whsec_" + base64.b64encode(b"aikit-jobs-tests-webhook-secret!").decode()


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=KEY)


@pytest.fixture
def batches(fake: FakeProvider) -> Iterator[Callable[..., dict[str, Any]]]:
    fake.reset_batches()
    fake.configure_batches(
        **FAST, error_rate=0.0, expire_rate=0.0, drop_rate=0.0, fail_validation=0, webhook_url=None
    )
    yield fake.configure_batches
    fake.configure_batches(webhook_url=None)


@pytest.fixture
def openai_ai(fake: FakeProvider, tmp_path: Path) -> Iterator[AI]:
    client = AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, cache=str(tmp_path / "cache"))
    yield client
    client.close()


@pytest.fixture
def listener(tmp_path: Path, webhook_secret: str) -> Iterator[Any]:
    import aikit

    hook = aikit.WebhookListener(port=0, store=tmp_path / "hooks.sqlite")
    hook.add_source("openai", scheme="openai", secret=webhook_secret).start()
    yield hook
    hook.stop()
