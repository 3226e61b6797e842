"""The uvicorn thread on its own: start on port 0 -> ready -> stop -> join, loopback, clear errors."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from aikit.exceptions import WebhookError
from aikit.webhooks.server import ServerThread


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"{scope['method']} {scope['path']} on {threading.current_thread().name}".encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


def test_ready_means_serving_and_stop_joins() -> None:
    server = ServerThread(_echo, name="test-webhook-server")
    port = server.start(0)
    try:
        assert server.running and port > 0
        resp = httpx.get(f"http://127.0.0.1:{port}/x")  # no retry: start() returned, so it serves
        assert resp.text == "GET /x on test-webhook-server"
        thread = server.thread
    finally:
        server.stop()
    assert thread is not None and not thread.is_alive() and not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/x")
    server.stop()  # twice is fine


def _listening_addresses(port: int) -> list[str]:
    """Local IPv4 addresses listening on ``port``, from the kernel's socket table (no traffic sent)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("needs /proc/net/tcp (Linux)")
    found = []
    for line in table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A is LISTEN
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_binds_loopback_only() -> None:
    server = ServerThread(_echo)
    port = server.start(0)
    try:
        assert _listening_addresses(port) == ["127.0.0.1"]
    finally:
        server.stop()
    assert _listening_addresses(port) == []


def test_a_taken_port_is_a_webhook_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = ServerThread(_echo)
        with pytest.raises(WebhookError, match=f"cannot listen on 127.0.0.1:{port}.*port=0"):
            server.start(port)
        assert not server.running


def test_an_app_that_cannot_be_served_fails_start_in_the_caller() -> None:
    server = ServerThread(_echo)
    server._serve = lambda sock: sock.close()  # type: ignore[method-assign]  # the thread dies at once
    with pytest.raises(WebhookError, match="failed to start"):
        server.start(0, timeout=5)
    assert not server.running
