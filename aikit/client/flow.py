"""The attempt flow: one logical AI call as a sans-I/O generator of effects.

:meth:`AttemptFlow.run` never waits, sends or sleeps itself. It *yields* what must happen next and is
sent back the outcome, like httpx's ``Auth.auth_flow``; a driver (:mod:`aikit.client.drive`) performs
the effects. ``chat`` and ``stream`` drive this same flow, so pacing, retries, validation and recording
follow one policy wherever a call comes from. The effects:

- :class:`Acquire` ``(limiter, tokens)``: wait for a pacing permit; sent back the ``Permit``;
- :class:`Send` ``(request, timeout_s, stream)``: one HTTP attempt; sent back the ``httpx.Response``,
  or the timeout/transport exception is thrown in;
- :class:`ReadStream` ``(response, decoder)``: read a streamed 2xx body through the decoder (the driver
  hands the text deltas to its consumer); sent back the ``Parsed`` answer;
- :class:`Sleep` ``(seconds)``: the backoff before the next attempt;
- :class:`Store` ``(key, response)``: write the validated answer to the cache;
- with a batch's :class:`~aikit.client.tail.Tail`, a ``Send`` carries ``hedge_after_s``: an attempt
  still unanswered by then comes back as a :class:`Pending` handle instead of a response; the flow
  then either waits on (:class:`Await` ``(pending, seconds)``, sent back the response or a new
  ``Pending``) or, when the tail allows it and the limiter is not binding, acquires a second permit
  and yields :class:`Race` ``(pending, request, timeout_s)``: the same request sent again, the first
  2xx wins and the other is cancelled; sent back a :class:`Raced`.

The policy, in order, for every attempt:

1. every attempt (retries included) waits for the limiter;
2. 408/409/425/429/5xx, timeouts, connection errors and unreadable answers are retried: the server's
   ``retry-after`` plus jitter, else full-jitter backoff, until ``RetryPolicy.max_attempts`` or the
   total ``deadline_s`` would be passed (:class:`~aikit.exceptions.RetryExhaustedError`, whose
   ``__cause__`` is the last timeout or connection error); a 429/503/529 with ``retry-after`` pauses the
   limiter for every caller; other statuses fail at once with the provider's message
   (:class:`~aikit.exceptions.ProviderHTTPError`);
3. output that fails the schema is retried once, then :class:`~aikit.exceptions.InvalidOutputError`
   (a stream cannot take back what it showed: it fails at once);
4. a validated answer is stored (unless the cache mode says not to), every attempt outcome is a
   call-log row, and the ``observer`` sees ``start``, ``retry``, ``done`` and ``error``;
5. in a batch (``tail=``), each attempt's timeout is the tail's adaptive one, and a slow attempt is
   hedged as :mod:`aikit.client.tail` decides: the loser is a ``cancelled`` call-log row, the winner
   is stored once, both count for pacing (two permits) and for cost (the loser is priced like the
   winner: it may be billed).

The same policy drives the other HTTP calls of a provider: given ``parse`` (and no chat request), a
2xx is handed to ``parse`` and its value returned, with no pricing, schema or cache step. That is how
the steps of a provider batch job (upload, create, poll, download: :mod:`aikit.client.deferred`) are
paced, retried and logged, under the call-log ``mode`` they are given.

The flow takes values (the request, the policy, the limiter, the ledger), never the client.

>>> import httpx
>>> from aikit.client.providers.openai import OpenAIProvider
>>> from aikit.client.request import RequestBuilder
>>> from aikit.client.ratelimit import RateLimiter
>>> from aikit.client.ledger import Ledger, Scrubber
>>> provider = OpenAIProvider("compat", "http://127.0.0.1:9/v1")
>>> req = RequestBuilder(provider="compat", model="m", base_url="").build("hi")
>>> ledger = Ledger(provider="compat", model="m", base_url="", session="", log=None, scrub=Scrubber())
>>> flow = AttemptFlow(provider, req, provider.build_request(req, None), limiter=RateLimiter(),
...                    ledger=ledger, timeout_s=5.0, key=None, write_cache=False)
>>> steps = flow.run()
>>> type(next(steps)).__name__
'Acquire'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from aikit.client.ledger import Observer, notify
from aikit.client.providers.base import ErrorInfo, is_context_overflow
from aikit.client.request import estimate_tokens
from aikit.client.response import Response
from aikit.client.retry import RetryPolicy, backoff_delay, hinted_delay
from aikit.client.schema import SchemaMismatch
from aikit.client.tools import validated_calls
from aikit.exceptions import (
    ContextOverflowError,
    InvalidOutputError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RetryExhaustedError,
)

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.ledger import Ledger
    from aikit.client.providers.base import ChatRequest, Parsed, Provider, StreamDecoder
    from aikit.client.ratelimit import Permit, RateLimiter
    from aikit.client.tail import Tail

__all__ = [
    "HEDGE_RECHECK_S",
    "THROTTLE_STATUSES",
    "Acquire",
    "AttemptFlow",
    "Await",
    "Effect",
    "Pending",
    "Race",
    "Raced",
    "ReadStream",
    "Send",
    "Sleep",
    "Store",
    "backs_off",
]

#: Statuses that tell the limiter to back off (halve the concurrency).
THROTTLE_STATUSES = frozenset({429, 503, 529})
#: How often a slow attempt that may not be hedged yet asks again (the batch's queue may have emptied).
HEDGE_RECHECK_S = 0.25
#: The call-log error of the copy of a hedged request that lost the race.
LOST_RACE = "hedged: the other copy of this request answered first"
Failure = ErrorInfo | ProviderError


@dataclass(frozen=True, slots=True)
class Acquire:
    """Wait for a pacing permit of ``limiter`` reserving ``tokens``."""

    limiter: RateLimiter
    tokens: float


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request`` once within ``timeout_s``; with ``stream`` a 2xx body is left unread.

    With ``hedge_after_s``, an attempt unanswered by then comes back as a :class:`Pending`.
    """

    request: httpx.Request
    timeout_s: float
    stream: bool = False
    hedge_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """An attempt still in flight; ``handle`` belongs to the driver (the flow only passes it back)."""

    handle: Any


@dataclass(frozen=True, slots=True)
class Await:
    """Wait up to ``seconds`` more for ``pending``: sent back its response (or exception), or ``pending``."""

    pending: Pending
    seconds: float


@dataclass(frozen=True, slots=True)
class Race:
    """Send ``request`` again beside ``pending``; the first 2xx wins and the other is cancelled."""

    pending: Pending
    request: httpx.Request
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Raced:
    """How a race ended: the winner's response or exception, and the loser's (None: cancelled)."""

    hedge_won: bool
    value: httpx.Response | BaseException
    loser: httpx.Response | BaseException | None
    #: False when the pending attempt had ended before the copy could start (no copy went out).
    sent: bool = True


@dataclass(frozen=True, slots=True)
class ReadStream:
    """Read the streamed body of ``response`` through ``decoder``, then close the response."""

    response: httpx.Response
    decoder: StreamDecoder


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next attempt."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Store:
    """Cache ``response`` under ``key``."""

    key: str
    response: Response


Effect = Acquire | Send | ReadStream | Sleep | Store | Await | Race


def backs_off(limiter: RateLimiter, status: int | None) -> bool:
    """Whether ``status`` should shrink the concurrency: 503/529 always, 429 only while unpaced."""
    if status == 429:
        return not limiter.paced
    return status in THROTTLE_STATUSES


class AttemptFlow:
    """One logical call, attempt by attempt (see the module docstring for the policy).

    Parameters
    ----------
    provider : Provider
        The wire format: parses answers, classifies errors, reads rate-limit headers.
    req : ChatRequest
        The provider-neutral request (its ``stream`` flag decides chat or stream).
    request : httpx.Request
        ``req`` built for the wire, with the key in its headers; sent as it is on every attempt.
    limiter : RateLimiter
        Paces every attempt; learns limits and pauses on throttling.
    ledger : Ledger
        Counters, cost and call-log rows; its scrubber masks secrets in every message.
    timeout_s : float
        Longest wait for one HTTP attempt (cut to what is left of the deadline).
    key : str or None
        The cache key (None: the cache is off for this call).
    write_cache : bool
        Store the validated answer under ``key``.
    policy : RetryPolicy, optional
        Attempts and total deadline.
    observer : callable, optional
        ``observer(kind, info)`` for ``start``, ``retry``, ``done`` and ``error``.
    t0 : float, optional
        When the call started (``clock()`` units): the deadline and the latency count from it.
    clock : callable
        Monotonic seconds (``time.perf_counter``).
    parse : callable, optional
        ``parse(response)`` of a 2xx that is not a chat answer (``req`` is then None); its value is
        returned as it is, and a ``ValueError``/``KeyError``/``TypeError`` from it is retried.
    mode : str, optional
        The call-log ``mode`` of every row (default ``live``).
    tail : Tail, optional
        A batch's latencies: the adaptive timeout and hedging (:mod:`aikit.client.tail`).
    """

    __slots__ = (
        "attempt", "clock", "deadline", "hedges", "key", "label", "ledger", "limiter", "mode", "observer",
        "parse", "policy", "provider", "req", "request", "sent_timeout", "t0", "tail", "timeout_s", "tokens",
        "write_cache",
    )  # fmt: skip

    def __init__(
        self,
        provider: Provider,
        req: ChatRequest | None,
        request: httpx.Request,
        *,
        limiter: RateLimiter,
        ledger: Ledger,
        timeout_s: float,
        key: str | None,
        write_cache: bool,
        policy: RetryPolicy | None = None,
        observer: Observer | None = None,
        t0: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        parse: Callable[[httpx.Response], Any] | None = None,
        mode: str | None = None,
        tail: Tail | None = None,
    ) -> None:
        if req is None and parse is None:
            raise TypeError("AttemptFlow needs a chat request, or parse= for another kind of call")
        self.provider, self.req, self.request = provider, req, request
        self.parse, self.mode = parse, mode
        self.limiter, self.ledger, self.timeout_s = limiter, ledger, timeout_s
        self.key, self.write_cache = key, write_cache
        self.policy = policy or RetryPolicy()
        self.observer, self.clock = observer, clock
        self.t0 = clock() if t0 is None else t0
        self.deadline = self.t0 + self.policy.deadline_s
        if req is None:
            self.tokens = 0
        else:
            est_in, est_out = estimate_tokens(req.messages, None, req.params.get("max_tokens"))
            self.tokens = est_in + est_out
        self.label = f"{ledger.provider}:{ledger.model}" if ledger.model else ledger.provider
        self.attempt = 0
        self.tail, self.hedges, self.sent_timeout = tail, 0, timeout_s

    def run(self) -> Generator[Effect, Any, Any]:
        """Yield effects until the call is answered (the return value) or has failed (raised).

        The value is a :class:`Response`, or what ``parse`` returned for a call that is not a chat.
        """
        stream = self.req is not None and self.req.stream
        invalid_retried = False
        while True:
            permit: Permit = yield Acquire(self.limiter, self.tokens)
            self.attempt += 1
            self.ledger.stats["http_calls"] += 1
            notify(self.observer, "start", {"attempt": self.attempt, "waited_s": permit.waited_s})
            t_send = self.clock()
            status: int | None = None
            failure: Failure | None = None
            parsed: Parsed | None = None
            done, value = False, None  # a call that is not a chat: parse's value
            try:
                try:
                    resp: httpx.Response = yield from self._send(stream)
                except (TimeoutError, httpx.TimeoutException) as exc:
                    failure = self._timed_out(exc)
                except httpx.TransportError as exc:
                    failure = self._unreachable(exc)
                else:
                    status = resp.status_code
                    failure = self._classify(resp)
                if failure is None and stream:
                    parsed = yield from self._read(resp, status, t_send)
                elif failure is None:
                    try:
                        if self.parse is not None:
                            value, done = self.parse(resp), True
                        else:
                            assert self.req is not None
                            parsed = self.provider.parse_response(resp, self.req)
                    except (ValueError, KeyError, TypeError, IndexError) as exc:
                        failure = ErrorInfo(resp.status_code, f"unreadable answer: {exc}", retryable=True)
            except asyncio.CancelledError:
                self._row("error", latency_s=self.clock() - t_send, error="cancelled")
                raise
            finally:  # the pacing slot is given back whatever happened
                actual = (parsed.usage.total_tokens or None) if parsed is not None else None
                permit.ok = parsed is not None or done
                self.limiter.release(permit, actual_tokens=actual, throttled=backs_off(self.limiter, status))
            latency = self.clock() - t_send
            if done:
                self._row("ok", status=status, wait_s=permit.waited_s, latency_s=latency)
                notify(self.observer, "done", {"value": value})
                return value
            if parsed is None:
                assert failure is not None
                yield Sleep(self._retry_wait(failure, status, permit, latency))
                continue
            assert self.req is not None
            cost = self.ledger.answered(parsed)
            if self.tail is not None:
                self.tail.observe(latency, parsed.usage.output_tokens)
            if self.hedges and cost is not None:  # the losing copy may be billed like the winner
                self.ledger.stats["cost_usd"] += cost * self.hedges
                cost *= 1 + self.hedges
            data, calls = None, parsed.tool_calls
            try:  # the schema and the tools' argument schemas: one retry, like any invalid output
                if self.req.schema is not None:
                    data = self.req.schema.parse(parsed.text)
                if calls:
                    calls = validated_calls(self.req.tools, calls)
            except SchemaMismatch as exc:
                self._invalid(exc, parsed, status, latency, permit, cost, final=invalid_retried or stream)
                invalid_retried = True
                continue
            r = Response(
                text=parsed.text, model=parsed.model, usage=parsed.usage, data=data, cache_key=self.key,
                cost_usd=cost, latency_s=self.clock() - self.t0, attempts=self.attempt + self.hedges,
                finish_reason=parsed.finish_reason, logprobs=parsed.logprobs, tool_calls=calls,
            )  # fmt: skip
            if self.key is not None and self.write_cache:
                yield Store(self.key, r)
            self._row("ok", status=status, wait_s=permit.waited_s, response=r, latency_s=latency)
            notify(self.observer, "done", {"response": r})
            return r

    def _budget(self) -> float:
        return min(self.timeout_s, max(0.001, self.deadline - self.clock()))

    def _send(self, stream: bool) -> Generator[Effect, Any, httpx.Response]:
        """One attempt's HTTP exchange: plain, or with a batch's adaptive timeout and hedging."""
        tail = self.tail
        if tail is None or stream:
            self.sent_timeout = self._budget()
            resp: httpx.Response = yield Send(self.request, self.sent_timeout, stream)
            return resp
        max_tokens = self.req.params.get("max_tokens") if self.req is not None else None
        timeout = self.sent_timeout = min(self._budget(), tail.timeout_s(self.timeout_s, max_tokens))
        after = tail.hedge_after()
        t_send = self.clock()
        hedge_after = after if after is not None and after < timeout else None
        outcome = yield Send(self.request, timeout, False, hedge_after)
        while isinstance(outcome, Pending):
            if tail.may_hedge() and not self.limiter.binding(self.tokens):
                return (yield from self._hedge(outcome, timeout, t_send))
            outcome = yield Await(outcome, HEDGE_RECHECK_S)
        return outcome  # type: ignore[no-any-return]

    def _hedge(
        self, pending: Pending, timeout: float, t_send: float
    ) -> Generator[Effect, Any, httpx.Response]:
        """Race a second copy of the request against ``pending``; record the loser; the winner's outcome."""
        assert self.tail is not None
        self.tail.hedging()  # counted now, so flows deciding at once cannot pass the ceiling together
        permit: Permit = yield Acquire(self.limiter, self.tokens)
        t_hedge = self.clock()
        try:
            left = max(0.001, min(timeout, self.deadline - self.clock()))
            raced: Raced = yield Race(pending, self.request, left)
        finally:
            self.limiter.release(permit)
        if not raced.sent:
            self.tail.hedged -= 1
            if isinstance(raced.value, BaseException):
                raise raced.value
            return raced.value
        self.hedges += 1
        stats = self.ledger.stats
        stats["http_calls"] += 1
        stats["hedges"] += 1
        started = t_hedge if not raced.hedge_won else t_send
        loser = raced.loser
        if loser is None:
            self._row("cancelled", latency_s=self.clock() - started, error=LOST_RACE)
        elif isinstance(loser, httpx.Response):
            self._row("retry", status=loser.status_code, latency_s=self.clock() - started,
                      error=f"hedged copy: HTTP {loser.status_code}")  # fmt: skip
        else:
            self._row("retry", latency_s=self.clock() - started,
                      error=f"hedged copy: {type(loser).__name__}")  # fmt: skip
        if isinstance(raced.value, BaseException):
            raise raced.value
        return raced.value

    def _timed_out(self, exc: BaseException) -> ProviderError:
        msg = f"{self.label}: no answer within {self.sent_timeout:.1f} s ({type(exc).__name__})"
        return ProviderTimeoutError(msg, provider=self.ledger.provider, attempts=self.attempt)

    def _unreachable(self, exc: BaseException) -> ProviderError:
        detail = self.ledger.scrub(str(exc)) or "connection failed"
        where = self.ledger.base_url or "the server"
        msg = f"{self.label}: cannot reach {where} ({type(exc).__name__}: {detail})"
        return ProviderConnectionError(msg, provider=self.ledger.provider, attempts=self.attempt)

    def _classify(self, resp: httpx.Response) -> ErrorInfo | None:
        """Learn the advertised limits; None for a 2xx, else what went wrong (pausing on throttling)."""
        self.limiter.learn(self.provider.rate_limits(resp.headers))
        if resp.status_code < 300:
            return None
        info = self.provider.error_info(resp)
        if resp.status_code in THROTTLE_STATUSES and info.retry_after:
            self.limiter.pause(info.retry_after)
        return info

    def _read(
        self, resp: httpx.Response, status: int | None, t_send: float
    ) -> Generator[Effect, Any, Parsed]:
        assert self.req is not None
        try:
            parsed: Parsed = yield ReadStream(resp, self.provider.stream_decoder(self.req))
        except (httpx.TransportError, ValueError) as exc:
            what = f"{self.label}: the stream broke off ({type(exc).__name__}: {self.ledger.scrub(str(exc))})"
            self._row("error", status=status, latency_s=self.clock() - t_send, error=what)
            err = ProviderConnectionError(
                what, status=status, provider=self.ledger.provider, attempts=self.attempt
            )
            self._fail(err, cause=exc)
        return parsed

    def _invalid(
        self,
        exc: SchemaMismatch,
        parsed: Parsed,
        status: int | None,
        latency: float,
        permit: Permit,
        cost: float | None,
        *,
        final: bool,
    ) -> None:
        """Record output that failed the schema; raise on the last chance, else count a retry."""
        what = f"invalid output: {exc}"
        self._row(
            "error" if final else "retry", status=status, latency_s=latency, wait_s=permit.waited_s,
            input_tokens=parsed.usage.input_tokens, output_tokens=parsed.usage.output_tokens, cost_usd=cost,
            error=what,
        )  # fmt: skip
        if final:
            twice = "" if self.req is not None and self.req.stream else ", twice"
            message = (
                f"{self.label}: the output did not match the schema{twice}: {exc}. "
                f"Last output: {parsed.text[:300]!r}"
            )
            provider, n = self.ledger.provider, self.attempt
            self._fail(InvalidOutputError(message, status=status, provider=provider, attempts=n))
        self.ledger.stats["retries"] += 1
        info = {"attempt": self.attempt, "status": status, "error": what, "wait_s": 0.0}
        notify(self.observer, "retry", info)

    def _retry_wait(self, failure: Failure, status: int | None, permit: Permit, latency: float) -> float:
        """Seconds to wait before the next attempt; raise the final error when giving up."""
        policy, attempt, scrub = self.policy, self.attempt, self.ledger.scrub
        if isinstance(failure, ErrorInfo):
            what = f"HTTP {failure.status}: {scrub(failure.message)}"
            retryable, hint = failure.retryable, failure.retry_after
        else:
            what, retryable, hint = scrub(str(failure)), True, None
        error: ProviderError | None = None
        wait = 0.0
        if not retryable:
            message = scrub(failure.message) if isinstance(failure, ErrorInfo) else what
            overflow = isinstance(failure, ErrorInfo) and is_context_overflow(failure)
            error = (ContextOverflowError if overflow else ProviderHTTPError)(
                f"{self.label} refused the request (HTTP {status}, not retried): {message}",
                status=status, provider=self.ledger.provider, attempts=attempt,
            )  # fmt: skip
        else:
            if hint is not None:
                wait = hinted_delay(hint)
            else:
                wait = backoff_delay(attempt - 1, base=policy.base_s, cap=policy.cap_s)
            why = None
            if attempt >= policy.max_attempts:
                why = f"gave up after {attempt} attempts (retry.max_attempts)"
            elif self.clock() + wait > self.deadline:
                asked = (
                    f"the server asked to wait {hint:.1f} s" if hint is not None else f"waiting {wait:.1f} s"
                )
                deadline = f"the {policy.deadline_s:g} s deadline"
                why = f"gave up after {attempt} attempts: {asked} would pass {deadline}"
            if why:
                error = RetryExhaustedError(
                    f"{self.label}: {why}; last error: {what}",
                    status=status, provider=self.ledger.provider, attempts=attempt,
                )  # fmt: skip
        self._row("error" if error else "retry", status=status, wait_s=permit.waited_s + wait,
                  latency_s=latency, error=what)  # fmt: skip
        if error is not None:
            self._fail(error, cause=failure if isinstance(failure, ProviderError) else None)
        self.ledger.stats["retries"] += 1
        notify(self.observer, "retry", {"attempt": attempt, "status": status, "error": what, "wait_s": wait})
        return wait

    def _row(self, outcome: str, **fields: Any) -> None:
        if self.mode is not None:
            fields["mode"] = self.mode
        self.ledger.record(outcome, attempt=self.attempt, cache_key=self.key, **fields)

    def _fail(self, error: ProviderError, cause: BaseException | None = None) -> Any:
        """Count, notify and raise ``error`` (its message masked: it may quote the model's output)."""
        error.args = tuple(self.ledger.scrub(a) if isinstance(a, str) else a for a in error.args)
        self.ledger.stats["errors"] += 1
        notify(self.observer, "error", {"error": error})
        raise error from cause
