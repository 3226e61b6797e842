"""Handler isolation: nothing a handler raises or how long it hangs stops the dispatcher, the loop or
the other handlers; a dead dispatcher is visible and answered with 503."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aikit._runtime import run_sync
from aikit.webhooks.handlers import Event
from aikit.webhooks.listener import WebhookListener

WH = "whsec_" + "aXNvbGF0aW9uLXRlc3Qtc2VjcmV0"

KINDS: list[Callable[[], BaseException]] = [
    lambda: SystemExit(3),
    lambda: KeyboardInterrupt(),
    lambda: asyncio.CancelledError(),
]


def _runs(select: Callable[..., Any], hook: WebhookListener) -> dict[str, tuple[str, int]]:
    rows = select(hook, "SELECT handler, status, attempts FROM handler_runs ORDER BY handler")
    return {r[0].rsplit(":", 1)[-1]: (r[1], r[2]) for r in rows}


@pytest.mark.parametrize("kind", KINDS, ids=["SystemExit", "KeyboardInterrupt", "CancelledError"])
@pytest.mark.parametrize("style", ["sync", "async"])
def test_base_exceptions_never_stop_handling(
    aikit_home: Path, select: Callable[..., Any], kind: Callable[[], BaseException], style: str
) -> None:
    with WebhookListener(port=0, store=aikit_home / "h.sqlite", retry=(), workers=1) as hook:
        hook.add_source("std", scheme="standard", secret=WH)
        seen: list[int] = []

        if style == "sync":

            @hook.on("std")
            def explode(event: Event) -> None:
                raise kind()
        else:

            @hook.on("std")
            async def explode(event: Event) -> None:
                await asyncio.sleep(0)
                raise kind()

        @hook.on("std")
        def after(event: Event) -> int:
            seen.append(event.id)
            return event.id

        for n in range(3):
            assert hook.simulate("std", {"type": "t", "n": n}).status_code == 200
        assert hook.wait_idle(15)
        assert seen == [1, 2, 3]  # the later handler of every event ran, and later events were handled
        runs = select(hook, "SELECT status, last_error FROM handler_runs WHERE handler LIKE '%explode'")
        assert [r[0] for r in runs] == ["dead"] * 3
        assert type(kind()).__name__ in runs[0][1] and "Traceback" in runs[0][1]
        assert hook.stats()["dispatcher"] == "running" and "dispatcher" not in repr(hook)

        async def still_there() -> str:
            return "loop alive"

        assert run_sync(still_there()) == "loop alive"  # aikit's shared loop thread survived


def test_one_failing_handler_does_not_stop_the_others(
    hook: WebhookListener, select: Callable[..., Any]
) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    second: list[int] = []

    @hook.on("std")
    def broken(event: Event) -> None:
        raise ValueError("CRM down")

    @hook.on("std")
    def notify(event: Event) -> str:
        second.append(event.attempt)
        return "sent"

    hook.simulate("std", {"type": "t"})
    assert hook.wait_idle(15)
    assert second == [1]  # ran once, not blocked by broken, not re-run by broken's retries
    assert _runs(select, hook) == {"broken": ("dead", 5), "notify": ("done", 1)}
    events = hook.events()
    assert events["status"].tolist() == ["dead"] and events["result"][0] == {"notify": "sent"}
    assert "ValueError: CRM down" in events["last_error"][0]


def test_a_hanging_handler_is_cut_off_after_its_timeout(
    hook: WebhookListener, select: Callable[..., Any]
) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    other: list[int] = []

    @hook.on("std", timeout=0.3, max_attempts=1)
    def hangs(event: Event) -> None:
        time.sleep(5)

    @hook.on("std", timeout=0.3, max_attempts=1)
    async def hangs_async(event: Event) -> None:
        await asyncio.sleep(5)

    @hook.on("std")
    def fine(event: Event) -> None:
        other.append(event.id)

    started = time.monotonic()
    hook.simulate("std", {"type": "t"})
    assert hook.wait_idle(10)
    assert time.monotonic() - started < 4  # neither 5-s sleep was waited out
    assert other == [1]
    assert _runs(select, hook) == {"fine": ("done", 1), "hangs": ("dead", 1), "hangs_async": ("dead", 1)}
    assert all("did not finish within 0.3 s" in e for e in hook.dead()["last_error"])


def test_a_dead_dispatcher_is_reported_and_answers_503_until_restart(aikit_home: Path) -> None:
    hook = WebhookListener(port=0, store=aikit_home / "h.sqlite")
    hook.add_source("std", scheme="standard", secret=WH)
    with hook:
        hook.on("std")(lambda event: "ok")

        def broken_claim() -> None:
            raise SystemExit("the dispatcher's own bug")

        hook.dispatcher._claim = broken_claim  # type: ignore[method-assign]
        hook.dispatcher.wake()
        deadline = time.monotonic() + 5
        while hook.dispatcher.healthy and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hook.stats()["dispatcher"].startswith("dead: SystemExit")
        assert "dispatcher dead" in repr(hook) and "503" in repr(hook)
        resp = hook.simulate("std", {"type": "t"})
        assert resp.status_code == 503 and resp.headers["retry-after"]
        assert len(hook.events()) == 0  # not acknowledged, not stored: the sender retries later
        del hook.dispatcher._claim  # the bug is fixed; restarting the listener recovers
    with hook:
        assert hook.stats()["dispatcher"] == "running"
        assert hook.simulate("std", {"type": "t"}).status_code == 200
        assert hook.wait_idle(10)
        assert hook.events()["status"].tolist() == ["done"]
