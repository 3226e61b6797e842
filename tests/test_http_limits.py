"""HTTP limits of every embedded server (AppThread and the webhook listener): 431, 414, 413, 408, a
connection cap that idle sockets cannot exhaust, and the demo CRM refusing a 300 MB unauthenticated
body without reading it."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aikit._http_limits import HttpLimits
from aikit._serving import AppThread

LIMITS = HttpLimits(header_timeout=0.5, body_timeout=0.5, max_body=4096, max_connections=16)


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


@pytest.fixture
def server() -> Iterator[AppThread]:
    with AppThread(Starlette(routes=[Route("/", echo, methods=["POST"])]), limits=LIMITS) as thread:
        yield thread


def _exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            out += b"<open>"
    return out


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_oversized_headers_too_many_headers_and_long_request_lines(server: AppThread) -> None:
    big = b"POST / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n"
    assert _status(_exchange(server.port, big)) == 431
    many = b"POST / HTTP/1.1\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(150)) + b"\r\n"
    assert _status(_exchange(server.port, many)) == 431
    long_line = b"POST /" + b"a" * 10_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
    assert _status(_exchange(server.port, long_line)) == 414
    assert httpx.post(server.url + "/", content=b"abc").text == "3"  # the server is fine afterwards


def test_body_limit_declared_and_streamed(server: AppThread) -> None:
    declared = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n"
    reply = _exchange(server.port, declared)
    assert _status(reply) == 413 and b"connection: close" in reply
    chunked = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1388\r\n" + b"a" * 5000
    assert _status(_exchange(server.port, chunked + b"\r\n0\r\n\r\n")) == 413


def test_slow_headers_and_slow_bodies_get_408_and_close(server: AppThread) -> None:
    started = time.monotonic()
    assert _status(_exchange(server.port, b"POST / HTTP/1.1\r\nhost: x\r\n")) == 408
    assert _status(_exchange(server.port, b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nab")) == 408
    assert _exchange(server.port, b"") == b""  # silent since connecting: closed without an answer
    assert time.monotonic() - started < 4.5  # each closed after ~0.5 s, not the client's 5-s wait


def test_idle_sockets_cannot_lock_out_a_genuine_client(server: AppThread) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(40)]  # cap is 16
    try:
        time.sleep(0.1)
        with httpx.Client(timeout=2.0) as client:
            for _ in range(5):
                assert client.post(server.url + "/", content=b"hello").text == "5"
    finally:
        for sock in idle:
            sock.close()


def test_demo_crm_refuses_a_300_mb_unauthenticated_body_unread(aikit_home: Path) -> None:
    from aikit.local.crm.server import DemoCRM

    crm = DemoCRM(port=0).start()
    try:
        head = b"POST /crm/v3/objects/contacts HTTP/1.1\r\nhost: x\r\ncontent-length: 314572800\r\n\r\n"
        started = time.monotonic()
        reply = _exchange(crm.port, head + b"{" * 65536, wait=10)
        assert _status(reply) == 413 and time.monotonic() - started < 5
    finally:
        crm.stop()


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@pytest.mark.timeout(60)
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_NOFILE and /proc are Linux's")
def test_listener_under_ulimit_256_serves_genuine_senders_past_300_idle_sockets(tmp_path: Path) -> None:
    import hashlib
    import hmac

    env = {**os.environ, "GH_SECRET": "fd-secret"}
    cmd = [sys.executable, "-m", "aikit", "listen", "--port", "0", "--store", str(tmp_path / "w.sqlite"),
           "--source", "gh:github:GH_SECRET"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limit_fds)  # fmt: skip
    idle: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("listening gh "):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read() if proc.stderr else "no output"
        url = line.split()[-1]
        port = int(url.split(":")[2].split("/")[0])
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.2)
        with httpx.Client(timeout=3.0) as client:
            for n in range(20):
                body = b'{"n": %d}' % n
                sig = "sha256=" + hmac.new(b"fd-secret", body, hashlib.sha256).hexdigest()
                resp = client.post(url, content=body, headers={"x-hub-signature-256": sig})
                assert resp.status_code == 200
    finally:
        for sock in idle:
            sock.close()
        proc.terminate()
        proc.wait(15)
