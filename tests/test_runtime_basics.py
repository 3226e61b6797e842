"""The loop thread behind the sync API: works with or without a running loop, starts lazily."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aikit import _runtime


async def _thread_name() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


def test_run_sync_from_plain_code() -> None:
    assert _runtime.run_sync(_thread_name()) == "aikit-loop"


def test_run_sync_inside_a_running_loop_like_jupyter() -> None:
    async def cell() -> str:
        # A Jupyter cell runs inside the kernel's loop; a sync aikit call must still work.
        return _runtime.run_sync(_thread_name())

    assert asyncio.run(cell()) == "aikit-loop"


def test_run_sync_across_repeated_asyncio_run() -> None:
    async def cell() -> str:
        return _runtime.run_sync(_thread_name())

    assert [asyncio.run(cell()) for _ in range(3)] == ["aikit-loop"] * 3


def test_errors_propagate() -> None:
    async def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        _runtime.run_sync(boom())


def test_sync_call_from_loop_thread_is_refused() -> None:
    async def nested() -> str:
        return _runtime.run_sync(_thread_name())

    with pytest.raises(RuntimeError, match="own loop thread"):
        _runtime.run_sync(nested())


def test_iterate_sync() -> None:
    async def gen():  # type: ignore[no-untyped-def]
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    assert list(_runtime.iterate_sync(gen())) == [0, 1, 2]


def test_shutdown_restarts_lazily() -> None:
    _runtime.run_sync(_thread_name())
    _runtime.shutdown()
    assert _runtime.run_sync(_thread_name()) == "aikit-loop"


def test_interrupt_waits_for_the_cancelled_work_to_clean_up() -> None:
    import os
    import signal
    import time

    cleaned: list[float] = []

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.2)  # e.g. closing connections
            cleaned.append(time.monotonic())

    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _runtime.run_sync(work())
    returned = time.monotonic()
    timer.join()
    assert cleaned, "the interrupt returned before the cancelled coroutine finished its cleanup"
    assert cleaned[0] <= returned
    assert returned - started < 0.2 + 1.0 + 0.5  # interrupt + the 1 s grace, with slack for a loaded box
