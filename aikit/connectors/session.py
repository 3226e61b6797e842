"""The HTTP core shared by aikit's connectors: ``httpx.AsyncClient`` on aikit's loop, retries, pacing.

A :class:`ApiSession` owns its client the way every loop-bound object in aikit is owned: one per event
loop (:class:`aikit._runtime.LoopLocal`), made on aikit's loop thread at first use and closed when the
runtime shuts down, so a session keeps working after the loop thread restarts and in a forked child.
It sends each request through an optional :class:`~aikit.connectors.pacing.WindowPacer`, retries
429/5xx and connection failures with :class:`aikit.client.retry.RetryPolicy` (honouring ``Retry-After``),
and turns failures into :class:`aikit.exceptions.CRMError` carrying status, category and
correlation id (:class:`~aikit.exceptions.CRMConnectionError` when no answer came). The credential
lives only inside the ``httpx.Auth``; credentials in the base URL (``user:password@``, sent as HTTP
Basic; secret query parameters) are split off where the URL is given. Neither reaches a repr, a log
line or an exception message.

>>> s = ApiSession("https://api.example.invalid/?hapikey=canary-9", auth=TokenAuth("canary-123"))
>>> "canary" in repr(s), s.base_url
(False, 'https://api.example.invalid/?hapikey=***')
>>> path_segment("tickets"), path_segment("../properties")
('tickets', '..%2Fproperties')
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import httpx

from aikit import _runtime
from aikit._runtime import LoopLocal
from aikit.auth.masking import Scrubber
from aikit.auth.secrets import Secret, reveal
from aikit.auth.urls import protect_logs, redact_urls, split_url
from aikit.client.retry import RetryPolicy, is_retryable_status
from aikit.connectors.pacing import WindowPacer
from aikit.exceptions import ConfigError, CRMConnectionError, CRMError

__all__ = ["ApiSession", "TokenAuth", "on_loop", "on_runtime", "path_segment"]

log = logging.getLogger("aikit.connectors")
T = TypeVar("T")
P = ParamSpec("P")
#: 409 is retryable for AI providers (locks), but a CRM 409 is a real conflict (duplicate): fail fast.
_NOT_RETRIED = frozenset({409})


class TokenAuth(httpx.Auth):
    """``Authorization: Bearer <token>``; the token (a str or a masked Secret) is revealed per request only.

    A pending Secret (a password box not submitted yet) is accepted: it is looked up at each request.

    >>> TokenAuth(Secret("canary-123"))
    TokenAuth(token='***')
    """

    def __init__(self, token: str | Secret) -> None:
        pending = isinstance(token, Secret) and not token.available
        if not isinstance(token, str | Secret) or (not pending and not reveal(token)):
            raise ConfigError("the token is empty")
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {reveal(self._token)}"
        yield request

    def revealed(self) -> str | None:
        """The token, when it is known (for masking it in messages); None while pending."""
        token = self._token
        return token.reveal() if isinstance(token, Secret) and token.available else reveal(token)


async def on_runtime(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on aikit's loop thread, wherever the caller's loop is (loop-bound clients stay put)."""
    if _runtime.in_runtime_thread():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, _runtime.get_loop()))


def on_loop(afunc: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Make an async method run its body on aikit's loop thread, whichever loop awaits it.

    The connectors' ``afetch``/``apush`` are written once this way; their sync twins hand the same
    coroutine to :func:`aikit._runtime.run_sync` (already on the loop, so no second hop).

    >>> @on_loop
    ... async def where() -> bool:
    ...     return _runtime.in_runtime_thread()
    >>> _runtime.run_sync(where())
    True
    """

    @functools.wraps(afunc)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await on_runtime(afunc(*args, **kwargs))

    return run


def path_segment(value: str) -> str:
    """``value`` percent-encoded as one URL path segment (``/`` included), so it cannot change the path."""
    return quote(str(value), safe="")


def _maybe_applied(exc: httpx.HTTPError) -> bool:
    """False when the request surely never reached the server (the connection was never made)."""
    never_sent = httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol
    return not isinstance(exc, never_sent)


def error_from_response(response: httpx.Response, what: str) -> CRMError:
    """A :class:`CRMError` from a HubSpot-style error body (or any body), without secrets."""
    category = correlation = None
    message = response.text[:500]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        category = body.get("category") or body.get("errorType")
        correlation = body.get("correlationId")
    correlation = correlation or response.headers.get("x-hubspot-correlation-id")
    hint = ""
    if response.status_code == 401:
        hint = " Check the token (HUBSPOT_TOKEN) or the auth= object."
    elif response.status_code == 403:
        hint = " The token lacks a scope this call needs."
    return CRMError(
        f"{what} failed with HTTP {response.status_code}: {message}.{hint}",
        status=response.status_code,
        category=str(category) if category else None,
        correlation_id=str(correlation) if correlation else None,
    )


class ApiSession:
    """Paced, retried HTTP calls against one base URL, on aikit's event-loop thread.

    Parameters
    ----------
    base_url : str
        API root, e.g. ``https://api.hubapi.com``.
    auth : httpx.Auth, optional
        Any httpx auth (Bearer token, OAuth refresh, ...).
    retry : RetryPolicy
        Attempts and deadline for 429/5xx/connection failures.
    pacer : WindowPacer, optional
        Client-side rolling-window pacing (None: no pacing).
    timeout : float
        Per-request timeout in seconds.
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests).
    headers : mapping, optional
        Extra headers on every request.
    classify : callable, optional
        ``classify(response, what) -> (CRMError, retryable)`` for a response whose status is not
        ``ok``: another CRM's error shape and retry rules (Salesforce retries a 403
        ``REQUEST_LIMIT_EXCEEDED``). Default: HubSpot's shape, 429/5xx retried.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = None,
        pacer: WindowPacer | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        classify: Callable[[httpx.Response, str], tuple[CRMError, bool]] | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            shown = split_url(base_url).shown if isinstance(base_url, str) else type(base_url).__name__
            raise ConfigError(f"base_url must start with http:// or https://, got {shown!r}")
        protect_logs()
        url = split_url(base_url.strip())
        if url.login is not None and auth is not None:
            raise ConfigError(
                "the base URL carries a user:password@ login and there is a token or auth= too; both go in "
                "the Authorization header: keep one"
            )
        #: The base URL as shown (reprs, messages): no user info, secret query values masked.
        self.base_url = url.shown.rstrip("/")
        root, _, query = url.url.partition("?")
        self._url = root.rstrip("/")
        #: A query on the base URL (``?hapikey=...``) goes with every request, as httpx client params.
        self._params = httpx.QueryParams(query)
        if url.login is not None:
            auth = httpx.BasicAuth(url.login[0], url.login[1].reveal())
        self.scrub = Scrubber()
        for secret in url.secrets:
            self.scrub.add(secret)
        self.auth, self.retry, self.pacer = auth, retry or RetryPolicy(), pacer
        self.timeout, self.transport = timeout, transport
        self.headers = dict(headers or {})
        self.classify = classify
        self._clients: LoopLocal[httpx.AsyncClient] = LoopLocal(self._new_client, close=_aclose)
        self.stats = {"requests": 0, "retries": 0, "429": 0}

    def __repr__(self) -> str:
        return (
            f"ApiSession(base_url={self.base_url!r}, auth={type(self.auth).__name__ if self.auth else None})"
        )

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._url,
            params=self._params,
            auth=self.auth,
            timeout=self.timeout,
            transport=self.transport,
            headers={"User-Agent": "aikit-connector", **self.headers},
            trust_env=not self._url.startswith("http://127.0.0.1"),
        )

    def _client_here(self) -> httpx.AsyncClient:
        """This event loop's client (aikit's loop thread: made there once, closed at shutdown)."""
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the client of aikit's loop (a new one is made on next use)."""

        async def close() -> None:
            client = self._clients.pop()
            if client is not None:
                await client.aclose()

        await on_runtime(close())

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json_body: Any = None,
        params: Any = None,
        pacer: WindowPacer | str | None = "session",
        ok: tuple[int, ...] = (200, 201, 204, 207),
    ) -> httpx.Response:
        """Send with pacing and retries; return a response whose status is in ``ok``, else raise CRMError.

        ``pacer`` is the session's pacer by default; pass another one (a search bucket) or None.
        """
        use = self.pacer if pacer == "session" else pacer
        return await on_runtime(self._request(method, url, what, json_body, params, use, ok))

    async def _request(
        self,
        method: str,
        url: str,
        what: str,
        json_body: Any,
        params: Any,
        pacer: WindowPacer | str | None,
        ok: tuple[int, ...],
    ) -> httpx.Response:
        client = self._client_here()
        what = redact_urls(what)  # it may name a next-page URL the server sent, with a signature in it
        started = time.monotonic()
        content = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        maybe_applied = False  # did any attempt possibly reach the server without an answer?
        while True:
            stamp = await pacer.acquire() if isinstance(pacer, WindowPacer) else None
            self.stats["requests"] += 1
            failure: CRMError
            try:
                response = await client.request(method, url, content=content, params=params, headers=headers)
            except httpx.HTTPError as exc:
                maybe_applied = maybe_applied or _maybe_applied(exc)
                failure = CRMConnectionError(
                    f"{what} failed: {type(exc).__name__} talking to {self.base_url}",
                    maybe_applied=maybe_applied,
                )
                failure.__cause__ = exc
                response = None
            if isinstance(pacer, WindowPacer) and stamp is not None:
                pacer.settle(stamp)
            if response is not None:
                if isinstance(pacer, WindowPacer):
                    pacer.observe(response.headers)
                if response.status_code in ok:
                    return response
                if response.status_code == 429:
                    self.stats["429"] += 1
                if self.classify is not None:
                    failure, retryable = self.classify(response, what)
                else:
                    failure = error_from_response(response, what)
                    retryable = (
                        is_retryable_status(response.status_code) and response.status_code not in _NOT_RETRIED
                    )
                if not retryable:
                    raise self._masked(failure)
            attempt += 1
            wait = self.retry.delay(attempt - 1, response.headers if response is not None else None)
            if (
                attempt >= self.retry.max_attempts
                or time.monotonic() - started + wait > self.retry.deadline_s
            ):
                message = f"{failure} (gave up after {attempt} attempts)"
                final = (
                    CRMConnectionError(message, maybe_applied=maybe_applied)
                    if response is None
                    else CRMError(
                        message,
                        status=failure.status,
                        category=failure.category,
                        correlation_id=failure.correlation_id,
                    )
                )
                raise self._masked(final) from failure.__cause__
            self.stats["retries"] += 1
            log.info("%s: retrying in %.2f s after %s", what, wait, failure.status or "a connection error")
            await asyncio.sleep(wait)

    def _masked(self, error: CRMError) -> CRMError:
        """``error`` with the URL's credentials and the token masked in its message (servers echo them)."""
        if isinstance(self.auth, TokenAuth):
            self.scrub.add(self.auth.revealed())
        error.args = tuple(redact_urls(self.scrub(a)) if isinstance(a, str) else a for a in error.args)
        return error


async def _aclose(client: httpx.AsyncClient) -> None:
    await client.aclose()
