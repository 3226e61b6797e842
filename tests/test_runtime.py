"""The sync AI API on aikit's loop thread: inside running loops, across asyncio.run, and interruptible."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time

import pytest

import aikit
from aikit import _runtime
from aikit.testing import FakeConfig, FakeProvider

KEY = "sk-runtime-test"


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=KEY)


def _ai(fake: FakeProvider, **kw: object) -> aikit.AI:
    return aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=KEY, **kw)  # type: ignore[arg-type]


def test_sync_chat_inside_a_running_loop_like_a_jupyter_cell(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False)

    async def cell() -> list[str]:
        # The kernel's loop is running this cell; the sync API must still work (no nest_asyncio).
        return [ai.chat(f"row {i}").text for i in range(20)]

    texts = asyncio.run(cell())
    assert len(set(texts)) == 20 and fake.stats()["requests"] == 20
    assert "nest_asyncio" not in sys.modules


def test_sync_and_async_calls_across_repeated_asyncio_run(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False)

    async def session(i: int) -> tuple[str, str]:
        sync_text = ai.chat(f"sync {i}").text  # on aikit's loop thread
        async_text = (await ai.achat(f"async {i}")).text  # on this session's own loop
        return sync_text, async_text

    results = [asyncio.run(session(i)) for i in range(5)]
    assert all(a.startswith("fake-") and b.startswith("fake-") for a, b in results)
    assert ai.chat("after the sessions").text.startswith("fake-")  # no "Event loop is closed"
    assert fake.stats()["requests"] == 11


def _interrupt_main_thread_after(seconds: float) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    return timer


def _wait_for(predicate: object, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():  # type: ignore[operator]
            break
        time.sleep(0.01)
    return time.monotonic() - t0


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_keyboard_interrupt_cancels_the_request_within_a_second(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False, timeout=30)
    timer = _interrupt_main_thread_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ai.chat("[[fake:hang]] a kernel interrupt arrives while this hangs")
    timer.join()
    assert time.monotonic() - t0 < 0.3 + 1.0
    # the request was really cancelled on the loop: the server saw the client hang up
    assert _wait_for(lambda: fake.stats()["disconnects"] == 1, 1.0) < 1.0
    assert fake.stats()["in_flight"] == 0
    assert ai.chat("the client still works afterwards").text.startswith("fake-")


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_keyboard_interrupt_cancels_every_request_of_a_gathered_batch(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False, timeout=30, rpm=60_000)  # a known limit: no probing, all 10 start at once

    async def batch() -> list[aikit.Response]:
        return await asyncio.gather(*(ai.aio.achat(f"[[fake:hang]] row {i}") for i in range(10)))

    timer = _interrupt_main_thread_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _runtime.run_sync(batch())
    timer.join()
    assert time.monotonic() - t0 < 0.3 + 1.0
    assert _wait_for(lambda: fake.stats()["disconnects"] == 10, 1.0) < 1.0
    assert ai.aio.limiter.in_flight == 0  # every pacing slot was given back


def test_stream_from_sync_code_inside_a_running_loop(fake: FakeProvider) -> None:
    ai = _ai(fake)

    async def cell() -> str:
        return "".join(ai.stream("stream in a cell", max_tokens=30))

    assert asyncio.run(cell()).startswith("fake-")


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_keyboard_interrupt_stops_a_sync_stream(fake: FakeProvider) -> None:
    fake.configure(stream_delay_s=0.1, reply_words=15)  # ~15 chunks, 0.1 s apart
    try:
        ai = _ai(fake, cache=False)
        chunks: list[str] = []
        timer = _interrupt_main_thread_after(0.35)
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            for chunk in ai.stream("a long story", max_tokens=200):
                chunks.append(chunk)
        timer.join()
        assert time.monotonic() - t0 < 0.35 + 1.0 and 0 < len(chunks) < 10
        assert _wait_for(lambda: ai.aio.limiter.in_flight == 0, 1.0) < 1.0  # the slot was given back
        assert ai.chat("still usable").text.startswith("fake-")
    finally:
        _wait_for(lambda: fake.stats()["in_flight"] == 0, 3.0)  # the server finishes its (unread) stream
        fake.configure(stream_delay_s=0.0, reply_words=0)
