"""``aikit serve crm`` in the foreground: a real child process, a real request, Ctrl-C stops it.

The URL is printed only once the server accepts connections (the first request is sent at once, with
no retry), and the token comes from an environment variable or a file, never from the command line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "aikit", "serve", "crm", "--port", "0", *args]
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_crm_foreground_is_ready_when_it_prints_its_url(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    proc = _serve("--token-env", "CRM_CLI_TOKEN", "--db", str(db), env={"CRM_CLI_TOKEN": "cli-tok-5e1f"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+) with the token you gave", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert "cli-tok-5e1f" not in line
        r = httpx.get(  # at once, no retry: the server was ready before the line was printed
            match.group(1) + "/crm/v3/objects/companies?limit=1",
            headers={"Authorization": "Bearer cli-tok-5e1f"},
        )
        assert r.status_code == 200 and r.json()["results"][0]["properties"]["name"]
    finally:
        assert _stop(proc) in (0, 130)
    assert db.exists() and db.stat().st_size > 100_000  # the seeded data is in the file


def test_the_token_comes_from_a_file_and_never_from_the_command_line(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "crm", "--port", "0", "--token", "argv-tok-9c3d"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--token-env" in refused.stderr and "--token-file" in refused.stderr
    assert "argv-tok-9c3d" not in refused.stderr + refused.stdout
    secret = tmp_path / "token"
    secret.write_text("file-tok-77aa\n")
    proc = _serve("--token-file", str(secret), "--empty")
    try:
        assert proc.stdout is not None
        url = re.search(r"(http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        assert url is not None
        ok = httpx.get(
            url.group(1) + "/crm/v3/objects/contacts", headers={"Authorization": "Bearer file-tok-77aa"}
        )
        assert ok.status_code == 200 and ok.json()["results"] == []
    finally:
        _stop(proc)
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "aikit",
            "serve",
            "crm",
            "--port",
            "0",
            "--token-file",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        missing.returncode == 2 and "cannot read it" in missing.stderr and "Traceback" not in missing.stderr
    )
