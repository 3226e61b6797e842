"""Webhook fixtures: a real listener on 127.0.0.1 with a fresh SQLite store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aikit.webhooks.listener import WebhookListener

#: A secret that must never show up in a repr, a DataFrame, an error or the store file.
CANARY = "whsec_Q2FuYXJ5LXNlY3JldC1kby1ub3QtbGVhaw=="


@pytest.fixture
def hook(aikit_home: Path) -> Iterator[WebhookListener]:
    """A started listener with no sources; tests add what they need (sources are served live)."""
    listener = WebhookListener(port=0, store=aikit_home / "hooks.sqlite", retry_base=0.02, retry_cap=0.05)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def count_rows(listener: WebhookListener, source: str | None = None) -> int:
    if source is None:
        return int(listener.store.query("SELECT count(*) FROM events")[0][0])
    return int(listener.store.query("SELECT count(*) FROM events WHERE source=?", (source,))[0][0])
