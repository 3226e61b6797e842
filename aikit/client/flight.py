"""Single flight: identical requests in flight at the same moment share one call.

The first caller of a key leads: it makes the call. Callers of the same key that arrive while it runs
wait for the leader's answer instead of calling again. A follower that is cancelled leaves the leader
alone; a leader that is cancelled lets one of its followers lead in its place; a leader's error is
every follower's error.

>>> import asyncio
>>> calls = []
>>> async def answer():
...     calls.append(1)
...     await asyncio.sleep(0.01)
...     return "42"
>>> async def main():
...     inflight = {}
...     return await asyncio.gather(*(single_flight(inflight, "k", answer) for _ in range(3)))
>>> asyncio.run(main()), len(calls)
([('42', False), ('42', True), ('42', True)], 1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["single_flight"]

T = TypeVar("T")


async def single_flight(
    inflight: dict[str, asyncio.Future[T]], key: str, call: Callable[[], Awaitable[T]]
) -> tuple[T, bool]:
    """``(answer, shared)``: the answer of ``call()`` for ``key``, made once for everyone waiting.

    ``inflight`` is the table of calls in flight (one per event loop); ``shared`` is True when the
    answer came from another caller's call.
    """
    while (fut := inflight.get(key)) is not None:
        try:
            return await asyncio.shield(fut), True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # the leader was cancelled, not us: try again, maybe as the leader
    fut = asyncio.get_running_loop().create_future()
    inflight[key] = fut
    try:
        result = await call()
    except asyncio.CancelledError:
        fut.cancel()
        raise
    except BaseException as exc:
        fut.set_exception(exc)
        fut.exception()  # retrieved: there may be no follower
        raise
    finally:
        if inflight.get(key) is fut:
            del inflight[key]
    fut.set_result(result)
    return result, False
