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

from aikit.client.flow import Acquire, Await, Effect, Pending, Race, Raced, ReadStream, Send, Sleep, Store
from aikit.client.providers.base import SSEDecoder
from aikit.client.response import Response

__all__ = ["StoreFn", "StreamDriver", "drive"]

#: Writes one answer to the cache (and never raises for a failed write).
StoreFn = Callable[[str, Response], Awaitable[None]]
Flow = Generator[Effect, Any, Response]


async def _send(http: httpx.AsyncClient, effect: Send) -> httpx.Response:
    async with asyncio.timeout(effect.timeout_s):
        resp = await http.send(effect.request, stream=effect.stream)
        if effect.stream and resp.status_code >= 300:
            await resp.aread()  # the error body, for the provider's message; closes the stream
    return resp


async def _within(task: asyncio.Task[httpx.Response], seconds: float) -> Any:
    """``task``'s response (or its exception, raised) if it ends within ``seconds``, else a Pending."""
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except BaseException:
        task.cancel()
        raise
    if done:
        return task.result()
    return Pending(task)


def _outcome(task: asyncio.Task[httpx.Response]) -> httpx.Response | BaseException | None:
    if task.cancelled():
        return None
    return task.exception() or task.result()


async def _race(http: httpx.AsyncClient, effect: Race) -> Raced:
    """The first 2xx of the pending attempt and its copy wins; the other is cancelled (or has failed)."""
    first: asyncio.Task[httpx.Response] = effect.pending.handle
    if first.done():  # it ended while the copy waited for its permit: no copy is sent
        value = _outcome(first)
        assert value is not None
        return Raced(False, value, None, sent=False)
    copy = asyncio.ensure_future(_send(http, Send(effect.request, effect.timeout_s)))
    waiting = {first, copy}
    finished: list[asyncio.Task[httpx.Response]] = []
    try:
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in (first, copy):  # the original first when both ended in the same tick
                if task not in done:
                    continue
                finished.append(task)
                value = _outcome(task)
                if isinstance(value, httpx.Response) and value.status_code < 300:
                    other = copy if task is first else first
                    other.cancel()
                    loser = _outcome(other) if other.done() and other in finished else None
                    return Raced(task is copy, value, loser)
    except BaseException:
        first.cancel()
        copy.cancel()
        raise
    winner, loser_task = finished[-1], finished[0]  # both failed: the later one decides the retry
    value = _outcome(winner)
    assert value is not None
    return Raced(winner is copy, value, _outcome(loser_task))


async def _perform(effect: Effect, http: httpx.AsyncClient | None, store: StoreFn | None) -> Any:
    """Do what ``effect`` asks (everything except reading a stream) and return its outcome."""
    if isinstance(effect, Acquire):
        return await effect.limiter.acquire(effect.tokens)
    if isinstance(effect, Send):
        assert http is not None
        if effect.hedge_after_s is None:
            return await _send(http, effect)
        return await _within(asyncio.ensure_future(_send(http, effect)), effect.hedge_after_s)
    if isinstance(effect, Await):
        return await _within(effect.pending.handle, effect.seconds)
    if isinstance(effect, Race):
        assert http is not None
        return await _race(http, effect)
    if isinstance(effect, Sleep):
        await asyncio.sleep(effect.seconds)
        return None
    if isinstance(effect, Store):
        assert store is not None
        await store(effect.key, effect.response)
        return None
    raise TypeError(f"this driver cannot perform {type(effect).__name__}")


async def drive(flow: Flow, *, http: httpx.AsyncClient | None, store: StoreFn | None) -> Response:
    """Run ``flow`` to its answer; the flow's own exceptions propagate unchanged.

    An attempt left in flight (a :class:`~aikit.client.flow.Pending` the flow did not wait for,
    because it failed or was cancelled meanwhile) is cancelled when the flow ends.
    """
    outcome: Any = None
    error: BaseException | None = None
    pending: list[Pending] = []
    try:
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
            if isinstance(outcome, Pending):
                pending.append(outcome)
    finally:
        for p in pending:
            p.handle.cancel()


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
