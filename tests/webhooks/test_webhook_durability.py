"""SIGKILL the listener under load: every acknowledged event is in the store, and with handlers on a
retry schedule every handler of every acknowledged event runs once the kernel restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

SECRET = "durability-secret"


def _start(store: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "GH_SECRET": SECRET}
    cmd = [
        sys.executable,
        "-m",
        "aikit",
        "listen",
        "--port",
        "0",
        "--store",
        str(store),
        "--source",
        "gh:github:GH_SECRET",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening gh "):
            return proc, line.split()[-1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"aikit listen did not start: {proc.stderr.read() if proc.stderr else ''}")


def _sender(url: str, worker: int, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(timeout=5.0) as client:
        n = 0
        while not stop.is_set():
            delivery = f"w{worker}-{n}"
            body = json.dumps({"delivery": delivery, "pad": "x" * 200}).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"x-hub-signature-256": sig, "x-github-event": "push", "x-github-delivery": delivery}
            try:
                resp = client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                return  # the server was killed
            if resp.status_code == 200:
                acked.append(delivery)
            n += 1


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    store = tmp_path / "durable.sqlite"
    proc, url = _start(store)
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(url, i, acked, stop)) for i in range(16)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 300, "the load did not get going"
    conn = sqlite3.connect(store)
    try:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    missing = [d for d in acked if d not in stored]
    assert missing == []
    # restarting on the same store works and keeps every row
    proc2, url2 = _start(store)
    try:
        body = b'{"after": "restart"}'
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert httpx.post(url2, content=body, headers={"x-hub-signature-256": sig}).status_code == 200
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(15) == 0
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] >= len(acked) + 1
    finally:
        conn.close()


CHILD = """
import sys, time
from aikit.webhooks.listener import WebhookListener

hook = WebhookListener(port=0, store=sys.argv[1], retry=(0.05, 0.05, 0.05), workers=2)
hook.add_source("gh", scheme="github", secret="durability-secret")

@hook.on("gh")
def flaky(event):
    if event.attempt == 1:
        raise ConnectionError("first attempt always fails")
    return "ok"

@hook.on("gh")
def record(event):
    return event.payload["delivery"] if isinstance(event.payload, dict) else None

hook.start()
print("listening gh", hook.url_for("gh"), flush=True)
while True:
    time.sleep(1)
"""


@pytest.mark.slow
def test_sigkill_with_handlers_on_a_schedule_every_handler_runs_after_restart(tmp_path: Path) -> None:
    from aikit.webhooks.listener import WebhookListener

    store = tmp_path / "handled.sqlite"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening gh "), proc.stderr.read() if proc.stderr else line
    url = line.split()[-1]
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(url, i, acked, stop)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-stream, with handlers running and retries scheduled
        proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 200, "the load did not get going"
    conn = sqlite3.connect(store)
    try:
        stored = {row[0]: row[1] for row in conn.execute("SELECT event_id, status FROM events")}
        unfinished = conn.execute("SELECT count(*) FROM events WHERE status != 'done'").fetchone()[0]
    finally:
        conn.close()
    assert [d for d in acked if d not in stored] == []
    assert {stored[d] for d in acked} <= {"pending", "processing", "failed", "done"}  # none lost or dead
    assert unfinished > 0, "the kill came after everything was handled: the test proved nothing"
    # the kernel restarts: the same handlers, registered after the start, finish every event
    with WebhookListener(port=0, store=store, retry=(0.05, 0.05, 0.05)) as hook:
        hook.add_source("gh", scheme="github", secret=SECRET)

        def flaky(event: object) -> str:
            return "ok"

        def record(event: object) -> str:
            return "ok"

        hook.on("gh")(flaky)
        hook.on("gh")(record)
        assert hook.wait_idle(60)
        conn = sqlite3.connect(store)
        try:
            runs = {
                (row[0], row[1].rsplit(":", 1)[-1]): row[2]
                for row in conn.execute(
                    "SELECT e.event_id, r.handler, r.status"
                    " FROM handler_runs r JOIN events e ON e.id = r.event"
                )
            }
        finally:
            conn.close()
    missing = [(d, h) for d in acked for h in ("flaky", "record") if runs.get((d, h)) != "done"]
    assert missing == []
