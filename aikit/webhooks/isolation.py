"""Run one webhook handler so that nothing it does can stop the others: the dispatcher's boundary.

A handler is user code. Whatever it raises, ``BaseException`` included (``SystemExit``,
``KeyboardInterrupt``, ``asyncio.CancelledError``, ``GeneratorExit``), :func:`run_isolated` turns it
into an :class:`Outcome` with the traceback as text; it never propagates into the dispatcher's
worker thread, aikit's shared event loop thread, or the next handler of the same event.

* A sync handler runs on a thread of its own, joined for at most ``timeout`` seconds. Python cannot
  kill a thread, so a handler that hangs is *abandoned*: its outcome is a timeout, and whatever it
  returns later is ignored.
* An async handler (or a sync one that returns a coroutine) runs on aikit's loop thread inside a
  guard coroutine in the *same task* (``asyncio.timeout``, not a second task), so a ``SystemExit``
  raised by the handler is caught by the guard before asyncio's task machinery re-raises it out of
  ``run_forever`` and kills the loop (which would break every aikit client of the kernel).

>>> run_isolated(lambda event: 1 / 0, None, timeout=5).error.splitlines()[-1]
'ZeroDivisionError: division by zero'
>>> def leave(event):
...     raise SystemExit(3)
>>> run_isolated(leave, None, timeout=5).ok
False
>>> run_isolated(lambda event: "fine", None, timeout=5).value
'fine'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "run_isolated"]

#: Extra seconds to wait for the loop thread beyond an async handler's own timeout.
LOOP_GRACE_S = 5.0
#: Longest error text kept (the end of the traceback, where the exception is).
MAX_ERROR = 4000


@dataclass(frozen=True)
class Outcome:
    """What one handler run came to: its value, or the error text (traceback) and whether it timed out."""

    ok: bool
    value: Any = None
    error: str | None = None
    timed_out: bool = False


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc)).rstrip()
    return text[-MAX_ERROR:]


def _timeout(timeout: float | None) -> Outcome:
    return Outcome(
        False, error=f"TimeoutError: the handler did not finish within {timeout} s", timed_out=True
    )


async def _guard(coro: Coroutine[Any, Any, Any], timeout: float | None) -> Outcome:
    """Await ``coro`` in this task with a deadline; every exception becomes an Outcome."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            value = await coro
    except TimeoutError as exc:
        return _timeout(timeout) if deadline.expired() else Outcome(False, error=_describe(exc))
    except BaseException as exc:  # the boundary: SystemExit, KeyboardInterrupt, CancelledError too
        return Outcome(False, error=_describe(exc))
    return Outcome(True, value)


def _run_coroutine(coro: Coroutine[Any, Any, Any], timeout: float | None) -> Outcome:
    """Run ``coro`` on aikit's loop thread, guarded, and wait for its outcome."""
    from aikit._runtime import get_loop, in_runtime_thread

    if in_runtime_thread():  # pragma: no cover - handlers never run on the loop thread
        coro.close()
        return Outcome(
            False, error="RuntimeError: a handler coroutine cannot be awaited from the loop thread"
        )
    fut = asyncio.run_coroutine_threadsafe(_guard(coro, timeout), get_loop())
    try:
        return fut.result(None if timeout is None else timeout + LOOP_GRACE_S)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        return _timeout(timeout)
    except BaseException as exc:  # the loop went away under the handler
        return Outcome(False, error=_describe(exc))


def _call(fn: Callable[[Any], Any], event: Any, timeout: float | None) -> Outcome:
    try:
        result = fn(event)
        if inspect.iscoroutine(result):
            return _run_coroutine(result, timeout)
        return Outcome(True, result)
    except BaseException as exc:  # the boundary: nothing a handler raises leaves this frame
        return Outcome(False, error=_describe(exc))


def run_isolated(fn: Callable[[Any], Any], event: Any, *, timeout: float | None) -> Outcome:
    """Run ``fn(event)`` behind the boundary and return its :class:`Outcome` within ``timeout`` seconds.

    Parameters
    ----------
    fn : callable
        A sync or async handler.
    event : Event
        Its argument.
    timeout : float or None
        Seconds before the run counts as failed with a timeout (None waits forever).
    """
    if inspect.iscoroutinefunction(fn):
        try:
            coro = fn(event)
        except BaseException as exc:
            return Outcome(False, error=_describe(exc))
        return _run_coroutine(coro, timeout)
    box: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: box.append(_call(fn, event, timeout)), name="aikit-webhook-handler", daemon=True
    )
    thread.start()
    thread.join(timeout)
    if box:
        return box[0]
    return _timeout(timeout)
