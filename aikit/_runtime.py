"""The one event-loop thread behind aikit's sync API.

aikit's core is async. Sync calls (``AI.chat``, ``df.ai.map``, ``HubSpot.fetch`` ...) hand their
coroutine to a private event loop running in a daemon thread owned by aikit, then block on the result.
That works the same inside a running Jupyter kernel (whose own loop is busy running the cell), under
nbconvert/papermill, in scripts, in pytest and across repeated ``asyncio.run()`` calls, with no
``nest_asyncio``. Loop-bound objects (``httpx.AsyncClient``, limiters, locks) are created on this loop
and stay there.

The thread starts lazily on first use, never at import. A ``KeyboardInterrupt`` (a kernel interrupt)
while a sync call waits cancels the coroutine on the loop, waits up to one second for the cancellation
to finish, then re-raises. After ``os.fork()`` the child gets a fresh runtime.

>>> async def add(a, b):
...     return a + b
>>> run_sync(add(1, 2))
3
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import inspect
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

__all__ = [
    "LoopLocal",
    "get_loop",
    "in_runtime_thread",
    "iterate_sync",
    "on_shutdown",
    "run_sync",
    "shutdown",
    "twin_of",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: How long an interrupted sync call waits for the cancelled work to unwind before re-raising.
CANCEL_GRACE_S = 1.0


class _Runtime:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            return loop
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                ready = threading.Event()
                new_loop = asyncio.new_event_loop()

                def _run() -> None:
                    asyncio.set_event_loop(new_loop)
                    new_loop.call_soon(ready.set)
                    new_loop.run_forever()

                thread = threading.Thread(target=_run, name="aikit-loop", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = new_loop, thread
            return self._loop

    def in_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._shutdown_hooks.append(hook)

    def shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        hooks, self._shutdown_hooks = self._shutdown_hooks, []

        async def _close() -> None:
            for hook in reversed(hooks):
                with contextlib.suppress(BaseException):  # best effort at exit, never raise from atexit
                    await asyncio.wait_for(hook(), 2.0)

        with contextlib.suppress(BaseException):
            asyncio.run_coroutine_threadsafe(_close(), loop).result(timeout=5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2.0)
        with self._lock:
            self._loop, self._thread = None, None

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._loop, self._thread = None, None
        self._shutdown_hooks = []


_runtime = _Runtime()
atexit.register(_runtime.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_runtime.reset_after_fork)


def get_loop() -> asyncio.AbstractEventLoop:
    """The runtime's event loop, starting its thread on first use."""
    return _runtime.loop()


def in_runtime_thread() -> bool:
    """True when called from the runtime's own loop thread."""
    return _runtime.in_thread()


def on_shutdown(hook: Callable[[], Awaitable[None]]) -> None:
    """Register an async cleanup (close clients, stop servers) to run on the loop at exit."""
    _runtime.on_shutdown(hook)


def shutdown() -> None:
    """Run the shutdown hooks and stop the loop thread (it restarts on next use)."""
    _runtime.shutdown()


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the runtime loop and block until it finishes.

    Works whether or not the calling thread has a running event loop. A ``KeyboardInterrupt`` while
    waiting cancels the coroutine on the loop (in-flight HTTP requests are cancelled with it) and is
    re-raised within about a second.

    Raises
    ------
    RuntimeError
        When called from the runtime thread itself (that would deadlock): use ``await`` there.
    """
    if _runtime.in_thread():
        coro.close()
        raise RuntimeError("aikit sync API called from aikit's own loop thread; await the async API instead")
    loop = _runtime.loop()
    fut: concurrent.futures.Future[T] = concurrent.futures.Future()
    finished = threading.Event()  # set when the task itself is over, cancellation cleanup included
    tasks: list[asyncio.Task[T]] = []

    def _start() -> None:
        task = loop.create_task(coro)
        tasks.append(task)

        def _done(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                fut.cancel()
            elif (exc := t.exception()) is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(t.result())
            finished.set()

        task.add_done_callback(_done)

    loop.call_soon_threadsafe(_start)
    try:
        return fut.result(timeout)
    except KeyboardInterrupt:
        _cancel(loop, tasks, finished)
        raise
    except concurrent.futures.TimeoutError:
        _cancel(loop, tasks, finished)
        raise TimeoutError(f"aikit call did not finish within {timeout} s") from None
    except concurrent.futures.CancelledError:
        raise asyncio.CancelledError() from None


def _cancel(
    loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], finished: threading.Event
) -> None:
    """Cancel the task on the loop and wait (briefly) until its cleanup has run."""

    def _cancel_task() -> None:
        for task in tasks:
            task.cancel()
        if not tasks:  # not started yet: nothing will run
            finished.set()

    loop.call_soon_threadsafe(_cancel_task)
    finished.wait(CANCEL_GRACE_S)


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator from sync code, one item per hop to the runtime loop."""

    async def _next() -> tuple[bool, T | None]:
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    try:
        while True:
            ok, item = run_sync(_next())
            if not ok:
                return
            yield item  # type: ignore[misc]
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not _runtime.in_thread():
            with contextlib.suppress(BaseException):  # closing an abandoned stream is best effort
                run_sync(aclose())


def twin_of(afunc: Callable[..., Any], *, note: str | None = None) -> Callable[[F], F]:
    """Give a sync function the signature and docstring of its async twin, generated, never copied.

    ``help()`` and Jupyter's Shift-Tab then show the sync form with every argument, and the two can
    never drift apart. ``note`` replaces the line appended to the docstring ("" appends nothing).

    >>> async def aadd(a: int, b: int = 1) -> int:
    ...     '''Add two numbers.'''
    ...     return a + b
    >>> @twin_of(aadd)
    ... def add(*args: Any, **kwargs: Any) -> int:
    ...     return run_sync(aadd(*args, **kwargs))
    >>> str(inspect.signature(add)) == str(inspect.signature(aadd)), add(2)
    (True, 3)
    >>> add.__doc__.splitlines()[0]
    'Add two numbers.'
    """
    signature = inspect.signature(afunc)
    doc = inspect.cleandoc(afunc.__doc__ or "")
    if note is None:
        note = f"The sync form of ``{afunc.__name__}``: same arguments, run on aikit's loop thread."

    def decorate(func: F) -> F:
        func.__signature__ = signature  # type: ignore[attr-defined]
        func.__doc__ = "\n\n".join(part for part in (doc, note) if part)
        return func

    return decorate


class LoopLocal(Generic[T]):
    """One value per running event loop, made by ``factory`` the first time it is asked for there.

    Loop-bound objects (an ``httpx.AsyncClient``, locks, futures) must stay on the loop that made them.
    Keeping one per loop lets the same client object work on aikit's loop thread, across repeated
    ``asyncio.run`` calls, after the loop thread restarts and in a forked child (whose loops are new).
    Values made on aikit's loop thread are closed with ``close`` when the runtime shuts down.

    >>> import asyncio
    >>> made = LoopLocal(object)
    >>> async def same():
    ...     return made.get() is made.get()
    >>> asyncio.run(same()), asyncio.run(same()), len(made) >= 1
    (True, True, True)
    """

    __slots__ = ("__weakref__", "_close", "_factory", "_last", "_values")

    def __init__(
        self, factory: Callable[[], T], *, close: Callable[[T], Awaitable[Any]] | None = None
    ) -> None:
        self._factory, self._close = factory, close
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._last: tuple[asyncio.AbstractEventLoop, T] | None = None

    def get(self) -> T:
        """The value of the running loop (made now if this loop has none)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
            if self._close is not None and _runtime.in_thread():
                _runtime.on_shutdown(_closer(weakref.ref(self), loop))
        self._last = (loop, value)
        return value

    def pop(self) -> T | None:
        """Forget the running loop's value and return it (None if it had none)."""
        loop = asyncio.get_running_loop()
        if self._last is not None and self._last[0] is loop:
            self._last = None
        return self._values.pop(loop, None)

    def __len__(self) -> int:
        return len(self._values)


def _closer(
    ref: weakref.ref[LoopLocal[Any]], loop: asyncio.AbstractEventLoop
) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        local = ref()
        if local is None or local._close is None:
            return
        value = local._values.pop(loop, None)
        if local._last is not None and local._last[0] is loop:
            local._last = None
        if value is not None:
            await local._close(value)

    return close
