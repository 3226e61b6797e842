"""The batch APIs' wire formats (pure) and the attempt flow driving a call that is not a chat."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from aikit.client.drive import drive
from aikit.client.flow import AttemptFlow
from aikit.client.ledger import Ledger, Scrubber
from aikit.client.providers.anthropic_batch import AnthropicBatchAPI
from aikit.client.providers.anthropic_batch import batch_from as anthropic_batch
from aikit.client.providers.anthropic_batch import result_line as anthropic_line
from aikit.client.providers.batches import BatchLimits, split
from aikit.client.providers.openai import OpenAIProvider
from aikit.client.providers.openai_batch import OpenAIBatchAPI
from aikit.client.providers.openai_batch import batch_from as openai_batch
from aikit.client.providers.openai_batch import result_line as openai_line
from aikit.client.ratelimit import RateLimiter
from aikit.client.retry import RetryPolicy
from aikit.exceptions import ConfigError, ProviderHTTPError


def test_openai_lines_success_only_with_status_200() -> None:
    ok = openai_line(
        {"custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}}, "error": None}
    )
    assert ok.kind == "succeeded" and ok.body == {"choices": []}
    refused = openai_line(
        {
            "custom_id": "b",
            "response": {"status_code": 400, "body": {"error": {"message": "ctx"}}},
            "error": None,
        }
    )
    assert (refused.kind, refused.error, refused.retryable) == ("errored", "HTTP 400: ctx", False)
    busy = openai_line({"custom_id": "c", "response": {"status_code": 503, "body": {}}, "error": None})
    assert busy.retryable and busy.status == 503
    expired = openai_line(
        {"custom_id": "d", "response": None, "error": {"code": "batch_expired", "message": "late"}}
    )
    assert expired.kind == "expired"
    odd = openai_line({"custom_id": "e", "response": None, "error": None})
    assert odd.kind == "errored"


def test_openai_batch_objects() -> None:
    b = openai_batch(
        {
            "id": "batch_1",
            "status": "completed",
            "output_file_id": None,
            "error_file_id": "",
            "request_counts": {"total": 3, "completed": 0, "failed": 3},
        }
    )
    assert b.terminal and b.state == "ended" and b.output_file_id is None and b.error_file_id is None
    assert OpenAIBatchAPI("openai", "http://x/v1").downloads(b, None) == []
    failed = openai_batch(
        {
            "id": "batch_2",
            "status": "failed",
            "errors": {"data": [{"code": "invalid_json_line", "message": "bad", "line": 2}]},
        }
    )
    assert failed.state == "failed" and failed.errors == ("invalid_json_line: bad (line 2)",)
    assert openai_batch({"id": "b", "status": "cancelling"}).state == "cancelling"
    assert not openai_batch({"id": "b", "status": "finalizing"}).terminal


def test_openai_requests() -> None:
    api = OpenAIBatchAPI("openai", "http://127.0.0.1:9/v1")
    from aikit.auth.secrets import Secret

    upload = api.upload([b'{"a":1}', b'{"b":2}'], Secret("sk-canary"), "part0.jsonl")
    upload.read()
    assert upload.url.path == "/v1/files" and b'name="purpose"' in upload.content
    assert b'{"a":1}\n{"b":2}\n' in upload.content and upload.headers["authorization"] == "Bearer sk-canary"
    create = api.create([], "file-1", {"aikit_job": "job_1"}, None)
    assert json.loads(create.content) == {
        "input_file_id": "file-1",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"aikit_job": "job_1"},
    }
    with pytest.raises(ValueError, match="upload first"):
        api.create([], None, {}, None)
    assert api.cancel("batch_1", None).url.path == "/v1/batches/batch_1/cancel"


def test_anthropic_lines_and_batches() -> None:
    assert anthropic_line(
        {"custom_id": "a", "result": {"type": "succeeded", "message": {"content": []}}}
    ).kind == ("succeeded")
    billing = anthropic_line(
        {
            "custom_id": "b",
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "low credit"},
                },
            },
        }
    )
    assert (billing.kind, billing.retryable, billing.status) == ("errored", False, 400)
    assert anthropic_line({"custom_id": "c", "result": {"type": "canceled"}}).kind == "canceled"
    running = anthropic_batch(
        {"id": "m", "processing_status": "canceling", "request_counts": {"processing": 4}}
    )
    assert running.state == "cancelling" and running.total == 4 and not running.terminal
    ended = anthropic_batch(
        {
            "id": "m",
            "processing_status": "ended",
            "cancel_initiated_at": "2026-01-01T00:00:00Z",
            "results_url": "http://127.0.0.1:9/v1/messages/batches/m/results",
            "request_counts": {"succeeded": 2, "canceled": 2},
        }
    )
    assert ended.state == "cancelled" and (ended.completed, ended.failed) == (2, 2)
    request = AnthropicBatchAPI("http://127.0.0.1:9/v1").downloads(ended, None)[0]
    assert str(request.url) == ended.results_url  # verbatim, as the SDK does
    with pytest.raises(ConfigError, match="custom_id"):
        AnthropicBatchAPI("http://x/v1").line("not ok!", {})


def test_split_and_broken_lines() -> None:
    assert split([], BatchLimits(2, 10)) == []
    with pytest.raises(ConfigError, match="over the provider"):
        split([b"x" * 50], BatchLimits(10, 40))
    results = list(
        OpenAIBatchAPI("openai", "http://x/v1").parse_results(
            b'{"custom_id": "a", "response": {"status_code": 200, "body": {}}}\n{broken\n'
            b'{"custom_id": "b", "response": {"status_code": 200, "body": {}}}\n'
        )
    )
    assert [r.kind for r in results] == ["succeeded", "unreadable", "succeeded"]


def test_the_flow_drives_a_call_that_is_not_a_chat() -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        if len(seen) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}}, headers={"retry-after": "0"})
        return httpx.Response(200, json={"id": "batch_9", "status": "validating"})

    provider = OpenAIProvider("openai", "http://127.0.0.1:9/v1")
    api = OpenAIBatchAPI("openai", "http://127.0.0.1:9/v1")
    ledger = Ledger(provider="openai", model="m", base_url="", session="s", log=None, scrub=Scrubber())

    async def run() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            flow = AttemptFlow(
                provider,
                None,
                api.retrieve("batch_9", None),
                limiter=RateLimiter(probe_s=0),
                ledger=ledger,
                timeout_s=5,
                key=None,
                write_cache=False,
                parse=api.parse_batch,
                mode="job",
                policy=RetryPolicy(base_s=0.0),
            )
            return await drive(flow.run(), http=http, store=None)

    remote = asyncio.run(run())
    assert getattr(remote, "id", None) == "batch_9" and len(seen) == 2
    assert ledger.stats["http_calls"] == 2 and ledger.stats["retries"] == 1

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "No batch found"}})

    async def missing() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
            flow = AttemptFlow(
                provider,
                None,
                api.retrieve("nope", None),
                limiter=RateLimiter(probe_s=0),
                ledger=ledger,
                timeout_s=5,
                key=None,
                write_cache=False,
                parse=api.parse_batch,
            )
            return await drive(flow.run(), http=http, store=None)

    with pytest.raises(ProviderHTTPError, match="No batch found"):
        asyncio.run(missing())
    with pytest.raises(TypeError, match="parse="):
        AttemptFlow(
            provider,
            None,
            api.retrieve("x", None),
            limiter=RateLimiter(),
            ledger=ledger,
            timeout_s=1,
            key=None,
            write_cache=False,
        )
