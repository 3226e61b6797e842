"""``aikit serve crm`` in the foreground: a real child process, a real request, Ctrl-C stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_serve_crm_foreground(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "aikit",
        "serve",
        "crm",
        "--port",
        "0",
        "--token",
        "cli-tok",
        "--db",
        str(db),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+) with the token you passed", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert "cli-tok" not in line
        url = match.group(1)
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(
                    url + "/crm/v3/objects/companies?limit=1", headers={"Authorization": "Bearer cli-tok"}
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 200 and r.json()["results"][0]["properties"]["name"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert db.exists() and db.stat().st_size > 100_000  # the seeded data is in the file
