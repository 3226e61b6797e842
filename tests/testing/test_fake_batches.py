"""The fake provider's batch APIs, driven by the official openai and anthropic SDKs over loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
import typing
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx
import openai
import pytest
from standardwebhooks import Webhook

from aikit.testing import FakeProvider

SECRET = "whsec_" + base64.b64encode(b"fake-batches-webhook-secret-0001").decode()


@pytest.fixture
def batches(fake: FakeProvider) -> Iterator[Callable[..., dict[str, Any]]]:
    configure = fake.configure_batches
    fake.reset_batches()
    configure(
        validating_s=0.05,
        processing_s=0.3,
        finalizing_s=0.05,
        error_rate=0.0,
        drop_rate=0.0,
        expire_rate=0.0,
        fail_validation=0,
        webhook_url=None,
        seed=0,
    )
    yield configure
    configure(webhook_url=None)


def jsonl(n: int, model: str = "gpt-4o-mini", suffix: Callable[[int], str] = lambda i: "") -> bytes:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"hello {i}{suffix(i)}"}]},
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(line) for line in lines).encode()


def finish(client: openai.OpenAI, batch: Any) -> tuple[Any, list[str]]:
    seen = [batch.status]
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.03)
        batch = client.batches.retrieve(batch.id)
        seen.append(batch.status)
    return batch, seen


def test_openai_sdk_round_trip(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
    uploaded = client.files.create(
        file=jsonl(20, suffix=lambda i: " [[fake:status=400]]" if i == 3 else ""), purpose="batch"
    )
    assert (
        uploaded.filename == "upload" and client.files.wait_for_processing(uploaded.id).status == "processed"
    )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"k": "v"},
    )
    assert batch.status == "validating" and batch.request_counts.total == 20
    assert batch.expires_at == batch.created_at + 86400
    batch, seen = finish(client, batch)
    assert seen[0] == "validating" and "in_progress" in seen and seen[-1] == "completed"
    assert batch.in_progress_at and batch.completed_at and batch.metadata == {"k": "v"}
    assert batch.request_counts.completed == 19 and batch.request_counts.failed == 1
    output = client.files.content(batch.output_file_id).text.splitlines()
    errors = [json.loads(line) for line in client.files.content(batch.error_file_id).text.splitlines()]
    ids = [json.loads(line)["custom_id"] for line in output]
    assert len(ids) == 19 and ids != sorted(ids, key=lambda c: int(c.split("-")[1]))  # shuffled
    assert errors[0]["custom_id"] == "req-3" and errors[0]["error"] is None
    assert errors[0]["response"]["status_code"] == 400 and "scripted 400" in json.dumps(errors[0])
    assert [b.id for b in client.batches.list(limit=5)] == [batch.id]


def test_openai_nulls_expiry_drops_and_validation(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
    every_line_fails = client.files.create(
        file=jsonl(3, suffix=lambda i: " [[fake:status=422]]"), purpose="batch"
    )
    batch, _ = finish(
        client,
        client.batches.create(
            input_file_id=every_line_fails.id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    )
    assert batch.status == "completed" and batch.output_file_id is None and batch.error_file_id
    mixed = client.files.create(
        file=jsonl(4, suffix=lambda i: [" [[fake:batch=expire]]", " [[fake:batch=drop]]", "", ""][i]),
        purpose="batch",
    )
    batch, _ = finish(
        client,
        client.batches.create(
            input_file_id=mixed.id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    )
    assert batch.status == "expired" and batch.expired_at
    assert batch.request_counts.completed == 3  # the dropped line is still counted, as users report
    assert len(client.files.content(batch.output_file_id).text.splitlines()) == 2
    expired = json.loads(client.files.content(batch.error_file_id).text)
    assert expired["response"] is None and expired["error"]["code"] == "batch_expired"
    bad = client.files.create(file=jsonl(2) + b"\nnot json", purpose="batch")
    batch, _ = finish(
        client,
        client.batches.create(input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"),
    )
    assert batch.status == "failed" and batch.errors.data[0].code == "invalid_json_line"
    assert batch.errors.data[0].line == 3 and batch.output_file_id is None
    with pytest.raises(openai.BadRequestError, match="input_file_id"):
        client.batches.create(input_file_id="", endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_openai_cancel(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    batches(processing_s=1.0)
    client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
    uploaded = client.files.create(file=jsonl(20), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    time.sleep(0.5)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    batch, _ = finish(client, cancelling)
    assert batch.status == "cancelled" and batch.cancelled_at
    done = len(client.files.content(batch.output_file_id).text.splitlines())
    assert 3 < done < 18  # what was produced before the cancel is kept


def test_anthropic_sdk_round_trip(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    client = anthropic.Anthropic(base_url=fake.url, api_key="x", max_retries=0)
    requests = [
        {
            "custom_id": f"r{i}",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": f"hi {i}" + extra}],
            },
        }
        for i, extra in enumerate(["", " [[fake:status=529]]", " [[fake:batch=expire]]", "", ""])
    ]
    batch = client.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 5
    while batch.processing_status != "ended":
        assert batch.request_counts.succeeded == 0  # counts jump only at the end
        time.sleep(0.03)
        batch = client.messages.batches.retrieve(batch.id)
    counts = batch.request_counts
    assert (counts.succeeded, counts.errored, counts.expired, counts.processing) == (3, 1, 1, 0)
    assert batch.results_url.startswith(fake.url + "/v1/messages/batches/")
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["r0"].type == "succeeded" and results["r0"].message.content[0].text.startswith("fake-")
    assert results["r1"].type == "errored" and results["r1"].error.error.type == "overloaded_error"
    assert results["r2"].type == "expired"
    raw = httpx.get(batch.results_url, headers={"x-api-key": "x"}).content
    assert b"\n\n" not in raw and b"\r" not in raw
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=[{"custom_id": "bad id!", "params": requests[0]["params"]}])
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"


def test_anthropic_cancel_spells_canceling(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    batches(processing_s=1.0)
    client = anthropic.Anthropic(base_url=fake.url, api_key="x", max_retries=0)
    params = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": params} for i in range(10)]
    )
    time.sleep(0.4)
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    while batch.processing_status != "ended":
        time.sleep(0.03)
        batch = client.messages.batches.retrieve(batch.id)
    assert batch.request_counts.canceled > 0 and batch.request_counts.succeeded > 0
    kinds = {r.result.type for r in client.messages.batches.results(batch.id)}
    assert kinds == {"succeeded", "canceled"}


class _Receiver(BaseHTTPRequestHandler):
    received: typing.ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        first, type(self).fail_first = type(self).fail_first, False
        self.send_response(503 if first else 200)  # the first delivery fails: it is retried
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_signed_webhooks_on_completion(fake: FakeProvider, batches: Callable[..., Any]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        batches(webhook_url=f"http://127.0.0.1:{server.server_port}/hook", webhook_secret=SECRET)
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, webhook_secret=SECRET)
        uploaded = client.files.create(file=jsonl(3), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(100):
            if len(_Receiver.received) >= 2:
                break
            time.sleep(0.05)
        headers, body = _Receiver.received[-1]
        assert headers["webhook-id"] == _Receiver.received[0][0]["webhook-id"]  # a retry keeps its id
        event = Webhook(SECRET).verify(body, headers)
        assert event["type"] == "batch.completed" and event["data"]["id"] == batch.id
        assert client.webhooks.unwrap(body, headers).type == "batch.completed"  # the OpenAI SDK agrees
        with pytest.raises(Exception, match=r"(?i)signature"):
            Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(body, headers)
    finally:
        server.shutdown()
