"""Streaming answers: text chunks as they arrive over SSE, for both wire formats.

``ai.astream(...)`` returns an :class:`AsyncStream` and ``ai.stream(...)`` a :class:`Stream` (the same,
driven from sync code through aikit's loop thread). Both yield ``str`` chunks; when the stream ends,
``.response`` holds the assembled :class:`~aikit.client.response.Response`, which is cached like a ``chat``
answer. A cache hit replays the cached text through the same iterator (as one chunk, no delay), so
code written for a live stream works unchanged on a re-run. Retryable failures are retried only
before the first chunk; a stream that breaks off later raises ``ProviderConnectionError``.

>>> async def story(ai):  # doctest: +SKIP
...     s = ai.astream("Tell a short story", max_tokens=200)
...     async for chunk in s:
...         print(chunk, end="")
...     return s.response.usage
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from aikit import _runtime
from aikit.client.ai import CACHE_MODES
from aikit.client.attempts import Attempts, backs_off, notify
from aikit.client.providers.base import SSEDecoder
from aikit.client.response import Response
from aikit.client.schema import OutputSchema, SchemaMismatch
from aikit.exceptions import ConfigError, InvalidOutputError, ProviderConnectionError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.ai import AsyncAI
    from aikit.client.attempts import Observer
    from aikit.client.providers.base import ChatRequest

__all__ = ["AsyncStream", "Stream"]


class AsyncStream:
    """Async iterator of text chunks; ``.response`` is the assembled :class:`Response` at the end.

    Built by :meth:`AsyncAI.astream`, with the same arguments as :meth:`AsyncAI.achat`.
    """

    def __init__(
        self,
        client: AsyncAI,
        prompt: Any,
        *,
        system: str | None = None,
        schema: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: str = "use",
        observer: Observer | None = None,
        **params: Any,
    ) -> None:
        if cache not in CACHE_MODES:
            raise ConfigError(f"cache= must be one of {CACHE_MODES}, got {cache!r}")
        req = client._request(prompt, system, OutputSchema.of(schema), temperature, max_tokens, params, True)
        self.response: Response | None = None
        self._agen: AsyncGenerator[str, None] = _run(self, client, req, cache, observer)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop early: the HTTP response is closed and nothing is cached."""
        await self._agen.aclose()

    async def text(self) -> str:
        """Consume the rest of the stream; return the whole text."""
        async for _ in self:
            pass
        return self.response.text if self.response is not None else ""


class Stream:
    """Sync iterator of text chunks (``for chunk in ai.stream(...)``); ``.response`` at the end."""

    def __init__(self, inner: AsyncStream) -> None:
        self._inner = inner
        self._iter: Iterator[str] = _runtime.iterate_sync(inner)

    @property
    def response(self) -> Response | None:
        return self._inner.response

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        return next(self._iter)

    def close(self) -> None:
        """Stop early (closes the HTTP response on aikit's loop)."""
        close = getattr(self._iter, "close", None)
        if close is not None:
            close()


async def _run(
    holder: AsyncStream, client: AsyncAI, req: ChatRequest, mode: str, observer: Observer | None
) -> AsyncGenerator[str, None]:
    t0 = time.perf_counter()
    client._stats["requests"] += 1
    key = None if mode == "off" else client._cache_key_of(req)
    if key is not None and mode != "refresh":
        hit = await client._cache_store().aget(key)
        if hit is not None:
            r = Response.from_cache(hit, cache_key=key, latency_s=time.perf_counter() - t0)
            holder.response = client._hit(r, req.schema, observer)
            if holder.response.text:
                yield holder.response.text
            return
    provider, api_key = await client._ensure_provider()
    est_in, est_out = client.estimate_tokens(req.messages, None, req.params.get("max_tokens"))
    attempts = Attempts(client, key, observer, t0)
    while True:
        permit = await attempts.start(est_in + est_out)
        t_send = time.perf_counter()
        resp: httpx.Response | None = None
        try:
            resp, failure = await attempts.send(provider, provider.build_request(req, api_key), stream=True)
        except BaseException:
            client.limiter.release(permit)
            raise
        status = resp.status_code if resp is not None else None
        if failure is not None:
            client.limiter.release(permit, throttled=backs_off(client.limiter, status))
            await asyncio.sleep(attempts.retry_wait(failure, status, permit, time.perf_counter() - t_send))
            continue
        break
    assert resp is not None
    decoder = provider.stream_decoder(req)
    sse = SSEDecoder()
    parsed = None
    try:
        async for line in resp.aiter_lines():
            for event, data in sse.feed(line):
                delta = decoder.feed(event, data)
                if delta:
                    yield delta
        for event, data in sse.flush():
            delta = decoder.feed(event, data)
            if delta:
                yield delta
        parsed = decoder.result()
    except (httpx.TransportError, ValueError) as exc:
        what = f"{client.spec}: the stream broke off ({type(exc).__name__}: {client._scrub(str(exc))})"
        attempts.record("error", status=status, latency_s=time.perf_counter() - t_send, error=what)
        err = ProviderConnectionError(
            what, status=status, provider=client.spec.provider, attempts=attempts.attempt
        )
        attempts.fail(err, cause=exc)
    finally:  # the slot first (sync, cannot be interrupted), then the connection
        actual = (parsed.usage.total_tokens or None) if parsed is not None else None
        permit.ok = parsed is not None
        client.limiter.release(permit, actual_tokens=actual)
        await resp.aclose()
    assert parsed is not None
    cost = client._cost(parsed)
    client._account(parsed, cost)
    value = None
    if req.schema is not None:
        try:
            value = req.schema.parse(parsed.text)
        except SchemaMismatch as exc:
            attempts.record("error", status=status, r=None, error=f"invalid output: {exc}")
            attempts.fail(InvalidOutputError(
                f"{client.spec}: the streamed output did not match the schema: {exc}",
                status=status, provider=client.spec.provider, attempts=attempts.attempt,
            ))  # fmt: skip
    r = Response(
        text=parsed.text, model=parsed.model, usage=parsed.usage, data=value, cache_key=key, cost_usd=cost,
        latency_s=time.perf_counter() - t0, attempts=attempts.attempt, finish_reason=parsed.finish_reason,
    )  # fmt: skip
    if key is not None and mode in ("use", "refresh"):
        await client._store(key, r)
    attempts.record("ok", status=status, wait_s=permit.waited_s, r=r, latency_s=time.perf_counter() - t_send)
    holder.response = r
    notify(observer, "done", {"response": r})
