"""Handlers on worker threads: once per event, retries with backoff to dead, memo across replays, recovery."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aikit.webhooks.handlers import Event
from aikit.webhooks.listener import WebhookListener

WH = "whsec_" + "c2VjcmV0LWJ5dGVzLWZvci1oYW5kbGVycw=="


@pytest.fixture
def row_status(select: Callable[..., Any]) -> Callable[[WebhookListener, int], tuple[str, int, str | None]]:
    """``row_status(hook, row_id) -> (status, attempts, last_error)`` as stored in the file."""

    def read(hook: WebhookListener, rid: int) -> tuple[str, int, str | None]:
        row = select(hook, "SELECT status, attempts, last_error FROM events WHERE id=?", rid)[0]
        return row[0], row[1], row[2]

    return read


def test_duplicate_delivery_is_handled_once(hook: WebhookListener) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    calls: list[int] = []

    @hook.on("std", "invoice")
    def paid(event: Event) -> dict[str, int]:
        calls.append(event.id)
        return {"amount": event.payload["amount"]}

    for _ in range(3):  # the provider retries with the same webhook-id
        assert (
            hook.simulate("std", {"type": "invoice.paid", "amount": 42}, event_id="msg_dup").status_code
            == 200
        )
    hook.simulate("std", {"type": "customer.created"}, event_id="msg_other")
    assert hook.wait_idle(10)
    assert calls == [1]
    df = hook.events()
    assert df["status"].tolist() == ["done", "received"]  # no handler matches customer.*
    assert df["result"][0] == {"paid": {"amount": 42}}


def test_failures_retry_with_backoff_then_dead(
    aikit_home: Path, row_status: Callable[..., tuple[str, int, str | None]]
) -> None:
    with WebhookListener(port=0, store=aikit_home / "h.sqlite", retry=(0.05, 0.05)) as hook:
        hook.add_source("std", scheme="standard", secret=WH)
        stamps: list[float] = []

        @hook.on("std")
        def broken(event: Event) -> None:
            stamps.append(time.monotonic())
            raise ValueError("CRM said no")

        hook.simulate("std", {"type": "x"})
        assert hook.wait_idle(15)
        status, attempts, error = row_status(hook, 1)
        assert (status, attempts) == ("dead", 3)
        assert error is not None and "ValueError: CRM said no" in error
        assert len(stamps) == 3 and all(b - a >= 0.015 for a, b in itertools.pairwise(stamps))
        assert hook.stats()["status"] == {"dead": 1}
        # a dead event can be replayed once the cause is fixed
        hook.dispatcher.handlers.clear()
        hook.on("std")(lambda event: "fixed")
        hook.replay(1)
        assert hook.wait_idle(10)
        assert row_status(hook, 1)[:2] == ("done", 1)


def test_retry_skips_handlers_that_already_succeeded(
    hook: WebhookListener, row_status: Callable[..., tuple[str, int, str | None]]
) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    first: list[int] = []
    second: list[int] = []

    @hook.on("std", "order")
    def record(event: Event) -> str:
        first.append(event.attempt)
        return "recorded"

    @hook.on("std", "order.created")
    def flaky(event: Event) -> str:
        second.append(event.attempt)
        if event.attempt < 3:
            raise ConnectionError("temporary")
        return "ok"

    hook.simulate("std", {"type": "order.created"})
    assert hook.wait_idle(15)
    assert first == [1] and second == [1, 2, 3]
    assert row_status(hook, 1)[:2] == ("done", 3)
    assert hook.events()["result"][0] == {"record": "recorded", "flaky": "ok"}


def test_memo_means_replay_never_pays_twice(hook: WebhookListener) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    paid: list[str] = []
    runs: list[int] = []

    def expensive_ai_call(text: str) -> str:
        paid.append(text)
        return f"summary of {text}"

    @hook.on("std", "ticket")
    def summarise(event: Event) -> str:
        runs.append(event.id)
        key = event.cache_key("summary")
        assert key == f"webhook:std:{event.dedupe_key}:summary"
        return str(hook.memo(event, expensive_ai_call, event.payload["text"]))

    hook.simulate("std", {"type": "ticket.created", "text": "printer on fire"})
    assert hook.wait_idle(10)
    hook.replay(1)
    assert hook.wait_idle(10)
    hook.replay(1)
    assert hook.wait_idle(10)
    assert runs == [1, 1, 1] and paid == ["printer on fire"]
    assert hook.events()["result"][0] == {"summarise": "summary of printer on fire"}


def test_async_handlers_and_unserialisable_results(hook: WebhookListener) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    seen = threading.Event()

    @hook.on("std", "a")
    async def on_a(event: Event) -> int:
        seen.set()
        return 7

    @hook.on("std", "b")
    def on_b(event: Event) -> object:
        return object()

    hook.simulate("std", {"type": "a"})
    hook.simulate("std", {"type": "b"})
    assert hook.wait_idle(10) and seen.is_set()
    results = hook.events()["result"].tolist()
    assert results[0] == {"on_a": 7} and results[1]["on_b"].startswith("<object object")


def test_memo_requires_json_values(
    hook: WebhookListener, row_status: Callable[..., tuple[str, int, str | None]]
) -> None:
    hook.add_source("std", scheme="standard", secret=WH)

    @hook.on("std")
    def bad(event: Event) -> None:
        event.memo("x", object)

    hook.simulate("std", {"type": "z"})
    hook.dispatcher.max_attempts = 1
    assert hook.wait_idle(10)
    assert "JSON-serialisable" in str(row_status(hook, 1)[2])


_CRASHER = textwrap.dedent(
    """
    import sys, time
    from aikit.webhooks.listener import WebhookListener
    hook = WebhookListener(port=0, store=sys.argv[1])
    hook.add_source("std", scheme="standard", secret=sys.argv[2])

    @hook.on("std")
    def slow(event):
        print("processing", flush=True)
        time.sleep(60)

    hook.start()
    hook.simulate("std", {"type": "ticket.created"})
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_rows_stuck_in_processing_are_recovered_at_start(
    aikit_home: Path, row_status: Callable[..., tuple[str, int, str | None]]
) -> None:
    store = aikit_home / "crash.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(store), WH],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "processing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with WebhookListener(port=0, store=store) as hook:
        assert hook.recovered == 1
        done: list[int] = []

        def slow(event: Event) -> None:  # the same handler (same name) as in the killed kernel
            done.append(event.attempt)

        hook.on("std")(slow)
        assert hook.wait_idle(10)
        assert done == [2]  # the interrupted run (left "running" in the store) counted as attempt 1
        assert row_status(hook, 1)[0] == "done"
