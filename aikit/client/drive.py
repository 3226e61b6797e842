"""Drivers of the attempt flow: they perform its effects with real I/O on the running event loop.

:func:`drive` runs :meth:`~aikit.client.flow.AttemptFlow.run` to its answer (``chat``);
:class:`StreamDriver` does the same while handing each streamed text delta to its consumer
(``stream``). An exception raised while performing an effect (a timeout, a refused connection, a
cancellation) is thrown into the flow at the ``yield`` that asked for it, so the flow's own
``try``/``finally`` decides what it means and gives the pacing slot back.

>>> import asyncio
>>> from aikit.client.flow import Sleep
>>> def flow():
...     yield Sleep(0.0)
...     return "answered"
>>> asyncio.run(drive(flow(), http=None, store=None))
'answered'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import httpx

from aikit.client.flow import Acquire, Effect, ReadStream, Send, Sleep, Store
from aikit.client.providers.base import SSEDecoder
from aikit.client.response import Response

__all__ = ["StoreFn", "StreamDriver", "drive"]

#: Writes one answer to the cache (and never raises for a failed write).
StoreFn = Callable[[str, Response], Awaitable[None]]
Flow = Generator[Effect, Any, Response]


async def _perform(effect: Effect, http: httpx.AsyncClient | None, store: StoreFn | None) -> Any:
    """Do what ``effect`` asks (everything except reading a stream) and return its outcome."""
    if isinstance(effect, Acquire):
        return await effect.limiter.acquire(effect.tokens)
    if isinstance(effect, Send):
        assert http is not None
        async with asyncio.timeout(effect.timeout_s):
            resp = await http.send(effect.request, stream=effect.stream)
            if effect.stream and resp.status_code >= 300:
                await resp.aread()  # the error body, for the provider's message; closes the stream
        return resp
    if isinstance(effect, Sleep):
        await asyncio.sleep(effect.seconds)
        return None
    if isinstance(effect, Store):
        assert store is not None
        await store(effect.key, effect.response)
        return None
    raise TypeError(f"this driver cannot perform {type(effect).__name__}")


async def drive(flow: Flow, *, http: httpx.AsyncClient | None, store: StoreFn | None) -> Response:
    """Run ``flow`` to its answer; the flow's own exceptions propagate unchanged."""
    outcome: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            outcome = await _perform(effect, http, store)
        except BaseException as exc:  # thrown into the flow, which decides (and re-raises cancellation)
            outcome, error = None, exc


class StreamDriver:
    """Async iterator of the text deltas of a streamed call; ``.response`` once it is answered.

    The flow runs lazily as the consumer iterates. Leaving early (``aclose``) closes the HTTP response;
    the flow's ``finally`` gives the pacing slot back and nothing is cached.
    """

    def __init__(self, flow: Flow, *, http: httpx.AsyncClient, store: StoreFn) -> None:
        self.response: Response | None = None
        self._flow, self._http, self._store = flow, http, store
        self._deltas = self._run()

    def __aiter__(self) -> StreamDriver:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        """Stop early."""
        await self._deltas.aclose()

    async def _run(self) -> AsyncGenerator[str, None]:
        flow = self._flow
        outcome: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = flow.throw(error) if error is not None else flow.send(outcome)
                except StopIteration as stop:
                    self.response = stop.value
                    return
                outcome, error = None, None
                try:
                    if isinstance(effect, ReadStream):
                        decoder, sse = effect.decoder, SSEDecoder()
                        try:
                            async for line in effect.response.aiter_lines():
                                for event, data in sse.feed(line):
                                    if delta := decoder.feed(event, data):
                                        yield delta
                            for event, data in sse.flush():
                                if delta := decoder.feed(event, data):
                                    yield delta
                            outcome = decoder.result()
                        finally:
                            await effect.response.aclose()
                    else:
                        outcome = await _perform(effect, self._http, self._store)
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    error = exc
        finally:
            flow.close()  # an abandoned stream: the flow's finally gives the pacing slot back
