"""One logical AI call, attempt by attempt: pace, send, classify, retry or give up, validate, record.

:func:`call` is the loop behind :meth:`aikit.client.AsyncAI.achat` once the cache has missed:

1. :meth:`Attempts.start` waits for the client's :class:`~aikit.client.ratelimit.RateLimiter` (every attempt,
   retries included, is paced);
2. :meth:`Attempts.send` makes one HTTP request under the per-request timeout, learns the advertised
   rate limits and, on a 429 with ``retry-after``, pauses the limiter for everyone;
3. :meth:`Attempts.retry_wait` decides: 400/401/403/404/422 (and ``x-should-retry: false``) fail at once
   with the provider's message (:class:`~aikit.exceptions.ProviderHTTPError`); 408/409/429/5xx, timeouts
   and connection errors wait (the server's hint plus jitter, else full-jitter backoff) until
   ``RetryPolicy.max_attempts`` or the total ``deadline_s`` would be passed
   (:class:`~aikit.exceptions.RetryExhaustedError`, whose ``__cause__`` is the last timeout or
   connection error);
4. output that fails the schema is retried once, then :class:`~aikit.exceptions.InvalidOutputError`;
5. a validated success is cached; every attempt outcome goes to the call log.

The ``observer(kind, info)`` callback sees ``start``, ``retry``, ``done`` and ``error`` events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from aikit.client.providers.base import ErrorInfo
from aikit.client.response import Response
from aikit.client.retry import backoff_delay, hinted_delay
from aikit.client.schema import SchemaMismatch
from aikit.exceptions import (
    InvalidOutputError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RetryExhaustedError,
)

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.ai import AsyncAI
    from aikit.client.providers.base import ChatRequest, Parsed, Provider
    from aikit.client.ratelimit import Permit, RateLimiter

__all__ = ["THROTTLE_STATUSES", "Attempts", "Observer", "backs_off", "call", "notify"]

_log = logging.getLogger("aikit.client")

#: ``observer(kind, info)``: kinds "start", "retry", "done", "error" (see ``AsyncAI.achat``).
Observer = Callable[[str, dict[str, Any]], None]
#: Statuses that tell the limiter to back off (halve the concurrency).
THROTTLE_STATUSES = frozenset({429, 503, 529})
Failure = ErrorInfo | ProviderError


def backs_off(limiter: RateLimiter, status: int | None) -> bool:
    """Whether ``status`` should shrink the concurrency: 503/529 always, 429 only while unpaced."""
    if status == 429:
        return not limiter.paced
    return status in THROTTLE_STATUSES


def notify(observer: Observer | None, kind: str, info: dict[str, Any]) -> None:
    """Call ``observer(kind, info)``; an observer's exception never breaks the call."""
    if observer is None:
        return
    try:
        observer(kind, info)
    except Exception as exc:
        _log.debug("observer failed on %s: %s", kind, exc)


class Attempts:
    """Book-keeping of one logical call: attempt count, deadline, logging and the retry decision."""

    __slots__ = ("attempt", "client", "deadline", "key", "log", "observer", "t0")

    def __init__(self, client: AsyncAI, key: str | None, observer: Observer | None, t0: float) -> None:
        self.client, self.key, self.observer, self.t0 = client, key, observer, t0
        self.deadline = t0 + client.retry.deadline_s
        self.log = client._log()
        self.attempt = 0

    async def start(self, tokens: float) -> Permit:
        """Wait for the limiter, count the attempt, tell the observer."""
        permit = await self.client.limiter.acquire(tokens)
        self.attempt += 1
        self.client._stats["http_calls"] += 1
        notify(self.observer, "start", {"attempt": self.attempt, "waited_s": permit.waited_s})
        return permit

    async def send(
        self, provider: Provider, request: httpx.Request, *, stream: bool = False
    ) -> tuple[httpx.Response | None, Failure | None]:
        """One HTTP attempt under the per-request timeout: the response, or what went wrong.

        With ``stream=True`` a 2xx response is returned unread (the caller closes it).
        """
        client = self.client
        budget = min(client.timeout, max(0.001, self.deadline - time.perf_counter()))
        spec, n = client.spec, self.attempt
        try:
            async with asyncio.timeout(budget):
                resp = await client._state().http.send(request, stream=stream)
                if stream and resp.status_code >= 300:
                    await resp.aread()
        except (TimeoutError, httpx.TimeoutException) as exc:
            msg = f"{spec}: no answer within {budget:.1f} s ({type(exc).__name__})"
            return None, ProviderTimeoutError(msg, provider=spec.provider, attempts=n)
        except httpx.TransportError as exc:
            detail = client._scrub(str(exc)) or "connection failed"
            where = client._key_base_url or "the server"
            msg = f"{spec}: cannot reach {where} ({type(exc).__name__}: {detail})"
            return None, ProviderConnectionError(msg, provider=spec.provider, attempts=n)
        client.limiter.learn(provider.rate_limits(resp.headers))
        if resp.status_code < 300:
            return resp, None
        info = provider.error_info(resp)
        if stream:
            await resp.aclose()
        if resp.status_code in THROTTLE_STATUSES and info.retry_after:
            client.limiter.pause(info.retry_after)
        return resp, info

    def record(self, outcome: str, **kw: Any) -> None:
        """One call-log row for this attempt."""
        if self.log is not None:
            self.log.record(self.client._record(outcome, attempt=self.attempt, cache_key=self.key, **kw))

    def retry_wait(self, failure: Failure, status: int | None, permit: Permit, latency: float) -> float:
        """Seconds to wait before the next attempt; raise the final error when giving up."""
        client, policy, attempt = self.client, self.client.retry, self.attempt
        if isinstance(failure, ErrorInfo):
            what = f"HTTP {failure.status}: {client._scrub(failure.message)}"
            retryable, hint = failure.retryable, failure.retry_after
        else:
            what, retryable, hint = client._scrub(str(failure)), True, None
        error: ProviderError | None = None
        wait = 0.0
        if not retryable:
            message = client._scrub(failure.message) if isinstance(failure, ErrorInfo) else what
            error = ProviderHTTPError(
                f"{client.spec} refused the request (HTTP {status}, not retried): {message}",
                status=status, provider=client.spec.provider, attempts=attempt,
            )  # fmt: skip
        else:
            if hint is not None:
                wait = hinted_delay(hint)
            else:
                wait = backoff_delay(attempt - 1, base=policy.base_s, cap=policy.cap_s)
            why = None
            if attempt >= policy.max_attempts:
                why = f"gave up after {attempt} attempts (retry.max_attempts)"
            elif time.perf_counter() + wait > self.deadline:
                asked = (
                    f"the server asked to wait {hint:.1f} s" if hint is not None else f"waiting {wait:.1f} s"
                )
                deadline = f"the {policy.deadline_s:g} s deadline"
                why = f"gave up after {attempt} attempts: {asked} would pass {deadline}"
            if why:
                error = RetryExhaustedError(
                    f"{client.spec}: {why}; last error: {what}",
                    status=status, provider=client.spec.provider, attempts=attempt,
                )  # fmt: skip
        self.record("error" if error else "retry", status=status, wait_s=permit.waited_s + wait,
                    latency_s=latency, error=what)  # fmt: skip
        if error is not None:
            self.fail(error, cause=failure if isinstance(failure, ProviderError) else None)
        client._stats["retries"] += 1
        notify(self.observer, "retry", {"attempt": attempt, "status": status, "error": what, "wait_s": wait})
        return wait

    def fail(self, error: ProviderError, cause: BaseException | None = None) -> None:
        """Count, notify and raise ``error``."""
        self.client._stats["errors"] += 1
        notify(self.observer, "error", {"error": error})
        raise error from cause


async def call(
    client: AsyncAI, req: ChatRequest, key: str | None, mode: str, observer: Observer | None, t0: float
) -> Response:
    """Make the HTTP call(s) for ``req`` (the cache already missed); return the validated Response."""
    provider, api_key = await client._ensure_provider()
    est_in, est_out = client.estimate_tokens(req.messages, None, req.params.get("max_tokens"))
    request = provider.build_request(req, api_key)
    attempts = Attempts(client, key, observer, t0)
    invalid_retried = False
    while True:
        permit = await attempts.start(est_in + est_out)
        t_send = time.perf_counter()
        resp: httpx.Response | None = None
        failure: Failure | None = None
        parsed: Parsed | None = None
        try:
            resp, failure = await attempts.send(provider, request)
            if resp is not None and failure is None:
                try:
                    parsed = provider.parse_response(resp, req)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    failure = ErrorInfo(resp.status_code, f"unreadable answer: {exc}", retryable=True)
        except asyncio.CancelledError:
            attempts.record("error", latency_s=time.perf_counter() - t_send, error="cancelled")
            raise
        finally:  # the pacing slot is given back whatever happened
            status = resp.status_code if resp is not None else None
            actual = (parsed.usage.total_tokens or None) if parsed is not None else None
            permit.ok = parsed is not None
            client.limiter.release(permit, actual_tokens=actual, throttled=backs_off(client.limiter, status))
        latency = time.perf_counter() - t_send
        if parsed is None:
            assert failure is not None
            await asyncio.sleep(attempts.retry_wait(failure, status, permit, latency))
            continue
        cost = client._cost(parsed)
        client._account(parsed, cost)
        data = None
        if req.schema is not None:
            try:
                data = req.schema.parse(parsed.text)
            except SchemaMismatch as exc:
                what = f"invalid output: {exc}"
                attempts.record("error" if invalid_retried else "retry", status=status, latency_s=latency,
                                wait_s=permit.waited_s, input_tokens=parsed.usage.input_tokens,
                                output_tokens=parsed.usage.output_tokens, cost_usd=cost,
                                error=what)  # fmt: skip
                if invalid_retried:
                    attempts.fail(InvalidOutputError(
                        f"{client.spec}: the output did not match the schema, twice: {exc}. "
                        f"Last output: {parsed.text[:300]!r}",
                        status=status, provider=client.spec.provider, attempts=attempts.attempt,
                    ))  # fmt: skip
                invalid_retried = True
                client._stats["retries"] += 1
                info = {"attempt": attempts.attempt, "status": status, "error": what, "wait_s": 0.0}
                notify(observer, "retry", info)
                continue
        r = Response(
            text=parsed.text, model=parsed.model, usage=parsed.usage, data=data, cache_key=key, cost_usd=cost,
            latency_s=time.perf_counter() - t0, attempts=attempts.attempt, finish_reason=parsed.finish_reason,
        )  # fmt: skip
        if key is not None and mode in ("use", "refresh"):
            await client._store(key, r)
        attempts.record("ok", status=status, wait_s=permit.waited_s, r=r, latency_s=latency)
        notify(observer, "done", {"response": r})
        return r
