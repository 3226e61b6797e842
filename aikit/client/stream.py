"""Streaming answers: text chunks as they arrive over SSE, for both wire formats.

``ai.astream(...)`` returns an :class:`AsyncStream` and ``ai.stream(...)`` a :class:`Stream` (the same,
driven from sync code through aikit's loop thread). Both yield ``str`` chunks; when the stream ends,
``.response`` holds the assembled :class:`~aikit.client.response.Response`, which is cached like a
``chat`` answer. A cache hit replays the cached text through the same iterator (as one chunk, no
delay), so code written for a live stream works unchanged on a re-run. The call itself runs through
the same attempt flow as ``chat`` (:mod:`aikit.client.flow`): retries happen only before the first
chunk; a stream that breaks off later raises ``ProviderConnectionError``.

>>> async def story(ai):  # doctest: +SKIP
...     s = ai.astream("Tell a short story", max_tokens=200)
...     async for chunk in s:
...         print(chunk, end="")
...     return s.response.usage
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from aikit import _runtime
from aikit.client.response import Response

__all__ = ["AsyncStream", "Stream"]


class AsyncStream:
    """Async iterator of text chunks; ``.response`` is the assembled :class:`Response` at the end.

    Built by :meth:`AsyncAI.astream <aikit.client.ai.AsyncAI.astream>` over ``source``, which yields
    the text chunks and, last, the :class:`Response`.
    """

    def __init__(self, source: AsyncIterator[str | Response]) -> None:
        self.response: Response | None = None
        self._source = source

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        item = await self._source.__anext__()
        if isinstance(item, Response):
            self.response = item
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop early: the HTTP response is closed and nothing is cached."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()

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
