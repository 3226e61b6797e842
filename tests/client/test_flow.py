"""The attempt flow driven by hand: a script answers each effect, so the policy is tested without I/O.

The flow is sans-I/O: it yields Acquire / Send / ReadStream / Sleep / Store and is sent the outcomes.
These tests play the server's part with a list of scripted outcomes (responses or exceptions) and
check the effects it asked for, the answer, the counters and that the pacing slot is always returned.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest

from aikit.client.flow import Acquire, AttemptFlow, Effect, ReadStream, Send, Sleep, Store
from aikit.client.ledger import Ledger, Scrubber
from aikit.client.providers.base import Parsed
from aikit.client.providers.openai import OpenAIProvider
from aikit.client.ratelimit import RateLimiter
from aikit.client.request import RequestBuilder
from aikit.client.response import Response, Usage
from aikit.client.retry import RetryPolicy
from aikit.client.schema import OutputSchema
from aikit.exceptions import (
    InvalidOutputError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RetryExhaustedError,
)

BASE = "http://127.0.0.1:9/v1"
KEY = "sk-flow-canary-0123456789"
TONE = {"type": "object", "properties": {"tone": {"enum": ["pos", "neg"]}}, "required": ["tone"]}


class Rows:
    """A call log that keeps rows in a list (the flow only calls ``record``)."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def record(self, rec: Any) -> None:
        self.rows.append(rec)


def _reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        body = {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2}, "model": "m"}  # fmt: skip
    request = httpx.Request("POST", f"{BASE}/chat/completions")
    return httpx.Response(status, json=body, headers=headers, request=request)


def _flow(
    *, schema: Any = None, stream: bool = False, policy: RetryPolicy | None = None, log: Rows | None = None
) -> tuple[AttemptFlow, RateLimiter, Ledger]:
    provider = OpenAIProvider("compat", BASE)
    builder = RequestBuilder(provider="compat", model="m", base_url=BASE)
    req = builder.build("hi", schema=OutputSchema.of(schema), stream=stream)
    scrub = Scrubber()
    scrub.add(KEY)
    ledger = Ledger(provider="compat", model="m", base_url=BASE, session="t", log=log, scrub=scrub)  # type: ignore[arg-type]
    limiter = RateLimiter()
    flow = AttemptFlow(
        provider, req, provider.build_request(req, None), limiter=limiter, ledger=ledger, timeout_s=5.0,
        key=builder.key(req), write_cache=True, policy=policy or RetryPolicy(base_s=0.01, cap_s=0.01),
    )  # fmt: skip
    return flow, limiter, ledger


def _play(
    flow: AttemptFlow, script: list[Any], read: Callable[[ReadStream], Any] | None = None
) -> tuple[list[Effect], Any]:
    """Run the flow, answering each Send with the next scripted item (a response, or an exception to
    throw in). Returns the effects asked for and the answer (or the exception raised)."""
    effects: list[Effect] = []

    async def run() -> Any:
        gen: Generator[Effect, Any, Response] = flow.run()
        outcome: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = gen.throw(error) if error is not None else gen.send(outcome)
            except StopIteration as stop:
                return stop.value
            except BaseException as exc:
                return exc
            effects.append(effect)
            outcome, error = None, None
            if isinstance(effect, Acquire):
                outcome = await effect.limiter.acquire(effect.tokens)
            elif isinstance(effect, Send):
                item = script.pop(0)
                if isinstance(item, BaseException):
                    error = item
                else:
                    outcome = item
            elif isinstance(effect, ReadStream):
                assert read is not None
                try:
                    outcome = read(effect)
                except BaseException as exc:
                    error = exc

    return effects, asyncio.run(run())


def _kinds(effects: list[Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def test_a_503_with_retry_after_is_retried_after_the_hint_then_answered_and_stored() -> None:
    flow, limiter, ledger = _flow()
    effects, answer = _play(
        flow, [_reply(503, {"error": {"message": "busy"}}, {"retry-after": "0.2"}), _reply(200)]
    )
    assert _kinds(effects) == ["Acquire", "Send", "Sleep", "Acquire", "Send", "Store"]
    sleep = effects[2]
    assert isinstance(sleep, Sleep) and 0.2 <= sleep.seconds <= 0.2 + 0.1
    assert isinstance(answer, Response) and answer.text == "hello" and answer.attempts == 2
    store = effects[-1]
    assert isinstance(store, Store) and store.response is answer and store.key == answer.cache_key
    assert ledger.stats["http_calls"] == 2 and ledger.stats["retries"] == 1 and ledger.stats["errors"] == 0
    assert limiter.in_flight == 0


def test_timeouts_are_retried_until_max_attempts_then_retry_exhausted_with_the_cause() -> None:
    flow, limiter, ledger = _flow(policy=RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01))
    effects, error = _play(flow, [httpx.ReadTimeout("slow")] * 3)
    assert _kinds(effects) == ["Acquire", "Send", "Sleep"] * 2 + ["Acquire", "Send"]
    assert isinstance(error, RetryExhaustedError) and error.attempts == 3
    assert "gave up after 3 attempts (retry.max_attempts)" in str(error)
    assert isinstance(error.__cause__, ProviderTimeoutError)
    assert ledger.stats["errors"] == 1 and limiter.in_flight == 0


def test_a_400_fails_at_once_with_the_providers_message_and_the_key_masked() -> None:
    log = Rows()
    flow, limiter, _ = _flow(log=log)
    body = {"error": {"message": f"bad request for key {KEY}"}}
    effects, error = _play(flow, [_reply(400, body)])
    assert _kinds(effects) == ["Acquire", "Send"]
    assert isinstance(error, ProviderHTTPError) and error.status == 400
    assert "bad request for key ********" in str(error) and KEY not in str(error)
    assert [r.outcome for r in log.rows] == ["error"] and KEY not in (log.rows[0].error or "")
    assert limiter.in_flight == 0


def test_a_connection_error_is_retried() -> None:
    flow, _, _ = _flow()
    effects, answer = _play(flow, [httpx.ConnectError("refused"), _reply(200)])
    assert _kinds(effects) == ["Acquire", "Send", "Sleep", "Acquire", "Send", "Store"]
    assert isinstance(answer, Response)


def test_output_that_fails_the_schema_is_retried_once_then_raises_and_is_never_stored() -> None:
    flow, limiter, ledger = _flow(schema=TONE)
    bad = {"choices": [{"message": {"content": '{"tone": "meh"}'}}], "usage": {}, "model": "m"}
    effects, error = _play(flow, [_reply(200, bad), _reply(200, bad)])
    assert _kinds(effects) == ["Acquire", "Send", "Acquire", "Send"]
    assert isinstance(error, InvalidOutputError) and "twice" in str(error)
    assert ledger.stats["retries"] == 1 and limiter.in_flight == 0


def test_a_cancelled_send_gives_the_slot_back_records_it_and_propagates() -> None:
    log = Rows()
    flow, limiter, _ = _flow(log=log)
    _, error = _play(flow, [asyncio.CancelledError()])
    assert isinstance(error, asyncio.CancelledError)
    assert limiter.in_flight == 0 and [(r.outcome, r.error) for r in log.rows] == [("error", "cancelled")]


def _parsed(text: str) -> Parsed:
    return Parsed(text=text, model="m", usage=Usage(3, 2), finish_reason="stop")


def test_a_stream_reads_its_body_through_the_same_flow() -> None:
    flow, limiter, _ = _flow(stream=True)
    effects, answer = _play(flow, [_reply(200, {})], read=lambda effect: _parsed("streamed"))
    assert _kinds(effects) == ["Acquire", "Send", "ReadStream", "Store"]
    assert isinstance(answer, Response) and answer.text == "streamed" and limiter.in_flight == 0


def test_a_stream_that_breaks_off_is_a_connection_error_and_not_retried() -> None:
    flow, limiter, _ = _flow(stream=True)

    def broken(effect: ReadStream) -> Parsed:
        raise httpx.RemoteProtocolError("peer closed")

    effects, error = _play(flow, [_reply(200, {})], read=broken)
    assert _kinds(effects) == ["Acquire", "Send", "ReadStream"]
    assert isinstance(error, ProviderConnectionError) and "the stream broke off" in str(error)
    assert limiter.in_flight == 0


def test_a_streamed_answer_that_fails_the_schema_raises_at_once() -> None:
    flow, _, _ = _flow(schema=TONE, stream=True)
    effects, error = _play(flow, [_reply(200, {})], read=lambda effect: _parsed(json.dumps({"tone": "meh"})))
    assert _kinds(effects) == ["Acquire", "Send", "ReadStream"]
    assert isinstance(error, InvalidOutputError) and "twice" not in str(error)


@pytest.mark.parametrize("status", [429, 500, 502, 529])
def test_retryable_statuses_are_retried(status: int) -> None:
    flow, _, _ = _flow()
    effects, answer = _play(flow, [_reply(status, {"error": {"message": "x"}}), _reply(200)])
    assert isinstance(answer, Response) and _kinds(effects).count("Send") == 2
