"""The app-in-a-thread helper behind every local server: start -> ready -> stop -> join, loopback only."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aikit._serving import AppThread, bind_loopback, wait_until_interrupted
from aikit.exceptions import ConfigError, CRMError


def make_app(events: list[str], *, fail_startup: bool = False) -> Starlette:
    """An app that records its lifespan and answers ``GET /`` with what happened so far."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _pause()  # a start-up that takes a moment: start() must wait for it
        if fail_startup:
            raise RuntimeError("the database is not there")
        events.append("startup")
        yield
        events.append("shutdown")

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(",".join(events))

    return Starlette(routes=[Route("/", home)], lifespan=lifespan)


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.2)


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses in LISTEN state on ``port``, from /proc/net/tcp (Linux)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_start_on_port_zero_is_ready_at_once_and_stop_joins() -> None:
    events: list[str] = []
    server = AppThread(make_app(events), name="probe")
    assert "stopped" in repr(server)
    server.start()
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}" and server.running
        assert events == ["startup"]  # start() returned after the lifespan start-up, not before
        assert httpx.get(server.url + "/", timeout=5).text == "startup"  # no retry needed
        assert any(t.name == f"probe-{server.port}" and t.daemon for t in threading.enumerate())
        assert server.start() is server  # idempotent while running
    finally:
        server.stop()
    assert events == ["startup", "shutdown"] and not server.running
    assert not any(t.name == f"probe-{server.port}" for t in threading.enumerate())  # joined
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0  # the socket is closed
    server.stop()  # idempotent


def test_binds_loopback_only() -> None:
    with AppThread(make_app([])) as server:
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(server.port) == {"127.0.0.1"}
        assert httpx.get(server.url + "/", timeout=5).status_code == 200
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ConfigError, match="loopback"):
            AppThread(make_app([]), host=host)
    sock = bind_loopback(0, host="localhost")
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_a_taken_port_is_a_clear_config_error() -> None:
    with AppThread(make_app([])) as first:
        with pytest.raises(ConfigError, match=rf"port {first.port} on 127\.0\.0\.1 is already in use"):
            AppThread(make_app([]), first.port).start()
        assert httpx.get(first.url + "/", timeout=5).status_code == 200  # the first one is unharmed
    with socket.socket() as other:  # a listener that is not ours
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(ConfigError, match="already in use"):
            bind_loopback(other.getsockname()[1])


def test_a_failed_start_raises_the_owners_error_and_leaves_nothing_running() -> None:
    server = AppThread(make_app([], fail_startup=True), name="broken", error=CRMError)
    with pytest.raises(CRMError, match=r"broken did not start on http://127\.0\.0\.1:"):
        server.start()
    assert not server.running
    assert not any(t.name.startswith("broken-") for t in threading.enumerate())


def test_signal_handlers_are_left_alone() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with AppThread(make_app([])):
        assert {sig: signal.getsignal(sig) for sig in before} == before


def test_uvloop_and_uvicorn_options() -> None:
    pytest.importorskip("uvloop")
    with AppThread(make_app([]), loop="uvloop", options={"http": "h11", "timeout_keep_alive": 1}) as s:
        assert httpx.get(s.url + "/", timeout=5).text == "startup"
    with pytest.raises(ConfigError, match="loop must be"):
        AppThread(make_app([]), loop="trio")


def test_wait_until_interrupted_returns_when_the_server_is_gone() -> None:
    server = AppThread(make_app([])).start()
    threading.Timer(0.3, server.stop).start()
    t0 = time.monotonic()
    wait_until_interrupted(lambda: server.running, poll_s=0.05)
    assert time.monotonic() - t0 < 5 and not server.running


_FOREGROUND = """
import sys
from aikit._serving import AppThread, wait_until_interrupted
sys.path.insert(0, sys.argv[1])
from test_serving import make_app
events = []
server = AppThread(make_app(events)).start()
print(server.url, flush=True)
try:
    wait_until_interrupted(lambda: server.running)
finally:
    server.stop()
print(",".join(events), flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_foreground_serving_stops_gracefully_on_a_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _FOREGROUND, str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        assert httpx.get(url + "/", timeout=5).text == "startup"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "startup,shutdown"  # the lifespan shutdown ran: a graceful stop
