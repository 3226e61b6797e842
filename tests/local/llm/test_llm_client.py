"""End to end: ``aikit.AI("local").chat(..., schema=...)`` through the embedded server, offline."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

import aikit
from aikit._batch.labels import classification_messages, classification_schema
from aikit.client.retry import RetryPolicy
from aikit.local.llm.servers import running_servers, stop_servers

pytestmark = pytest.mark.local_llm


@pytest.fixture(autouse=True, scope="module")
def _stop_at_end() -> Iterator[None]:
    yield
    stop_servers()


SENTIMENT = ["positive", "negative", "neutral"]
TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "feature request", "account"]},
        "urgent": {"type": "boolean"},
    },
    "required": ["category", "urgent"],
    "additionalProperties": False,
}


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_chat_with_schema_returns_valid_structured_data() -> None:
    ai = aikit.AI("local")
    r = ai.chat("Ticket: I was charged twice for my subscription this month.", schema=TICKET_SCHEMA)
    assert set(r.data) == {"category", "urgent"}
    assert r.data["category"] in TICKET_SCHEMA["properties"]["category"]["enum"]  # type: ignore[index]
    assert isinstance(r.data["urgent"], bool)
    assert r.cost_usd == 0.0


def test_few_shot_classification_messages_go_through_the_client() -> None:
    ai = aikit.AI("local")
    for text in ["Where can I download my invoice?", "Brilliant app, thank you!"]:
        r = ai.chat(classification_messages(text, SENTIMENT), schema=classification_schema(SENTIMENT))
        assert r.data["label"] in SENTIMENT


def test_killed_server_mid_session_restarts_on_the_next_call() -> None:
    ai = aikit.AI("local", retry=RetryPolicy(max_attempts=8, deadline_s=60))
    first = ai.chat("Reply with the word OK.", max_tokens=8, cache="off")
    assert first.text.strip()
    (endpoint,) = running_servers()
    os.kill(endpoint.pid, signal.SIGKILL)
    _wait_gone(endpoint.pid)
    again = ai.chat("Reply with the word OK.", max_tokens=8, cache="off")
    assert again.text.strip()
    (restarted,) = running_servers()
    assert restarted.pid != endpoint.pid


def test_a_client_follows_its_server_to_a_new_address() -> None:
    # A server stopped for good (no automatic restart) is started again by the next call, on a new
    # port with a new key: the client must ask for the endpoint again rather than keep the old one.
    ai = aikit.AI("local", retry=RetryPolicy(max_attempts=3, deadline_s=30))
    assert ai.chat("Reply with the word OK.", max_tokens=8, cache="off").text.strip()
    (before,) = running_servers()
    stop_servers()
    assert running_servers() == []
    assert ai.chat("Reply with the word OK.", max_tokens=8, cache="off").text.strip()
    (after,) = running_servers()
    assert after.pid != before.pid
    assert ai.calls()["outcome"].tolist()[-1] == "ok"
