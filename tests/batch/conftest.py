"""The batch tests' setup: a fast fake provider per module, restored before each test, and clients on it.

``fake_config`` (overridable per module, as in the root conftest) describes a quick, fault-free fake
that requires :data:`KEY`; ``fake`` puts that configuration back before each test (tests turn on rate
limits, latency and faults with ``fake.configure``); ``make_ai`` builds clients on it with a cache in
the test's tmp dir, closed at the end; ``ai`` is one such client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aikit.client import AI
from aikit.testing import FakeConfig, FakeProvider

#: The model the fake answers as (its replies are ``fake_reply(MODEL, messages)``).
MODEL = "fake-model"
#: The key the batch tests' fake provider requires.
KEY = "sk-batch-tests-0123456789"


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    """About 2 ms per answer, no rate limits, no faults; the key :data:`KEY` is required."""
    return FakeConfig(api_key=KEY, latency_median_s=0.002, latency_sigma=0.3)


@pytest.fixture
def fake(fake_server: FakeProvider, fake_config: FakeConfig) -> FakeProvider:
    """The module's fake provider with its configuration restored and its counters reset."""
    fake_server.configure(**dataclasses.asdict(fake_config))
    fake_server.reset()
    return fake_server


@pytest.fixture
def make_ai(fake: FakeProvider, tmp_path: Path) -> Iterator[Callable[..., AI]]:
    """``make_ai(**kw)``: an ``AI`` on the fake (key, base URL and a cache in tmp_path by default)."""
    made: list[AI] = []

    def make(**kw: Any) -> AI:
        kw.setdefault("api_key", KEY)
        kw.setdefault("cache", str(tmp_path / "cache"))
        client = AI(f"compat:{MODEL}", base_url=fake.base_url, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def ai(make_ai: Callable[..., AI]) -> AI:
    """A client on the fake provider with its own cache."""
    return make_ai()
