"""The HTTP core shared by aikit's connectors: one ``httpx.AsyncClient`` on aikit's loop, retries, pacing.

A :class:`ApiSession` owns the client (created lazily on the runtime loop thread, closed at exit),
sends each request through an optional :class:`~aikit.connectors.pacing.WindowPacer`, retries
429/5xx and connection failures with :class:`aikit.client.retry.RetryPolicy` (honouring ``Retry-After``),
and turns failures into :class:`aikit.exceptions.CRMError` carrying status, category and
correlation id. The credential lives only inside the ``httpx.Auth``; it never reaches a repr, a log
line or an exception message.

>>> s = ApiSession("https://api.example.invalid", auth=TokenAuth("canary-123"))
>>> "canary" in repr(s)
False
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, ParamSpec, TypeVar

import httpx

from aikit import _runtime
from aikit.auth.secrets import Secret, reveal
from aikit.client.retry import RetryPolicy, is_retryable_status
from aikit.connectors.pacing import WindowPacer
from aikit.exceptions import ConfigError, CRMError

__all__ = ["ApiSession", "TokenAuth", "on_loop", "on_runtime"]

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
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.auth, self.retry, self.pacer = auth, retry or RetryPolicy(), pacer
        self.timeout, self.transport = timeout, transport
        self.headers = dict(headers or {})
        self.classify = classify
        self._client: httpx.AsyncClient | None = None
        self.stats = {"requests": 0, "retries": 0, "429": 0}

    def __repr__(self) -> str:
        return (
            f"ApiSession(base_url={self.base_url!r}, auth={type(self.auth).__name__ if self.auth else None})"
        )

    def _client_here(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                auth=self.auth,
                timeout=self.timeout,
                transport=self.transport,
                headers={"User-Agent": "aikit-connector", **self.headers},
                trust_env=not self.base_url.startswith("http://127.0.0.1"),
            )
            client = self._client

            async def _close() -> None:
                await client.aclose()

            _runtime.on_shutdown(_close)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await on_runtime(client.aclose())

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
        started = time.monotonic()
        content = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            stamp = await pacer.acquire() if isinstance(pacer, WindowPacer) else None
            self.stats["requests"] += 1
            failure: CRMError
            try:
                response = await client.request(method, url, content=content, params=params, headers=headers)
            except httpx.HTTPError as exc:
                failure = CRMError(f"{what} failed: {type(exc).__name__} talking to {self.base_url}")
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
                    raise failure
            attempt += 1
            wait = self.retry.delay(attempt - 1, response.headers if response is not None else None)
            if (
                attempt >= self.retry.max_attempts
                or time.monotonic() - started + wait > self.retry.deadline_s
            ):
                raise CRMError(
                    f"{failure} (gave up after {attempt} attempts)",
                    status=failure.status,
                    category=failure.category,
                    correlation_id=failure.correlation_id,
                ) from failure.__cause__
            self.stats["retries"] += 1
            log.info("%s: retrying in %.2f s after %s", what, wait, failure.status or "a connection error")
            await asyncio.sleep(wait)
