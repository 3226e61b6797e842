"""job.wait() woken by OpenAI's signed batch webhook; the poll as a safety net; bad signatures ignored.

The events are signed in the test by the ``standardwebhooks`` library (the reference implementation
of the scheme OpenAI uses) and posted to a real ``aikit.WebhookListener`` over loopback.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest
from standardwebhooks import Webhook

import aikit
from aikit.client import AI
from aikit.testing import FakeProvider

Poll, Wait = aikit.jobs.Poll, aikit.jobs.Wait


def signed_post(url: str, batch_id: str, secret: str, kind: str = "batch.completed") -> httpx.Response:
    """POST an OpenAI batch event signed with ``secret`` by the standardwebhooks library."""
    body = json.dumps(
        {
            "object": "event",
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "type": kind,
            "created_at": int(time.time()),
            "data": {"id": batch_id},
        }
    )
    msg_id, now = f"wh_{uuid.uuid4().hex[:16]}", time.time()
    import datetime as dt

    signature = Webhook(secret).sign(msg_id, dt.datetime.fromtimestamp(now, dt.UTC), body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def after_the_batch_ends(fake: FakeProvider, then: Callable[[], Any]) -> threading.Thread:
    """Run ``then`` in a thread once the fake's (only) batch is over."""

    def watch() -> None:
        for _ in range(400):
            batches = [b for b in fake.app.batches.batches.values()]
            if batches and all(b.ended_at() + 0.05 < time.time() for b in batches):
                break
            time.sleep(0.025)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def submit(ai: AI, n: int = 5) -> Any:
    df = pd.DataFrame({"text": [f"row {i}" for i in range(n)]})
    return df.ai.map("S: {text}", ai=ai, mode="batch", wait=False, progress=False)


def test_a_signed_event_wakes_the_wait(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, listener: Any, webhook_secret: str
) -> None:
    batches(processing_s=1.0)
    job = submit(openai_ai)
    batch_id = job.status()["parts"][0]["remote_id"]
    replies: list[httpx.Response] = []
    url = listener.url_for("openai")
    after_the_batch_ends(fake, lambda: replies.append(signed_post(url, batch_id, webhook_secret)))
    t0 = time.monotonic()
    out = job.wait(wait=Wait(listener=listener, poll=Poll(safety_s=120)))
    waited = time.monotonic() - t0
    assert out["ai_error"].isna().all() and waited < 5.0  # woken, not the 120 s safety poll
    assert replies[0].status_code == 200
    assert listener.wait_idle(5)
    event = listener.events().iloc[-1]
    assert event["event_type"] == "batch.completed" and event["result"]["aikit_jobs_wake"]["woke"] >= 1


def test_a_bad_signature_never_wakes_a_job(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, listener: Any
) -> None:
    batches(processing_s=1.0)
    job = submit(openai_ai)
    batch_id = job.status()["parts"][0]["remote_id"]
    forged = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    replies: list[httpx.Response] = []
    after_the_batch_ends(
        fake, lambda: replies.append(signed_post(listener.url_for("openai"), batch_id, forged))
    )
    t0 = time.monotonic()
    out = job.wait(timeout=3.0, wait=Wait(listener=listener, poll=Poll(safety_s=120)))
    assert time.monotonic() - t0 >= 2.9  # not woken by the forged event: the wait ran to its timeout
    assert replies[0].status_code == 401 and listener.events().empty
    assert sum(listener.stats()["rejected"].values()) >= 1
    assert out["ai_error"].isna().all()


def test_the_poll_is_a_safety_net_when_no_event_comes(
    openai_ai: AI, batches: Callable[..., Any], listener: Any
) -> None:
    batches(processing_s=0.3)
    job = submit(openai_ai)
    t0 = time.monotonic()
    out = job.wait(wait=Wait(listener=listener, poll=Poll(safety_s=1.0)))
    assert out["ai_error"].isna().all() and 0.9 < time.monotonic() - t0 < 5.0
    assert listener.events().empty


def test_the_fake_providers_own_webhook_wakes_the_cell(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, listener: Any, webhook_secret: str
) -> None:
    batches(processing_s=1.0, webhook_url=listener.url_for("openai"), webhook_secret=webhook_secret)
    df = pd.DataFrame({"text": [f"row {i}" for i in range(8)]})
    t0 = time.monotonic()
    out = df.ai.map(
        "S: {text}",
        ai=openai_ai,
        mode="batch",
        progress=False,
        wait=Wait(listener=listener, poll=Poll(safety_s=120)),
    )
    assert out["ai_error"].isna().all() and time.monotonic() - t0 < 5.0
    deliveries = fake.batch_stats()["deliveries"]
    assert [d["type"] for d in deliveries] == ["batch.completed"] and deliveries[0]["status"] == 200


def test_a_listener_shorthand_and_its_missing_source(
    openai_ai: AI, batches: Callable[..., Any], tmp_path: Any
) -> None:
    bare = aikit.WebhookListener(port=0, store=tmp_path / "bare.sqlite").start()
    try:
        with pytest.raises(aikit.ConfigError, match="has no source 'openai'"):
            submit(openai_ai).wait(wait=bare)
    finally:
        bare.stop()
