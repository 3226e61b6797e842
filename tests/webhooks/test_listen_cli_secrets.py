"""``aikit listen`` reads a signing secret from a file (``NAME:SCHEME:@PATH``) and is ready when it prints."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

SECRET = "file-secret-canary-62d1"


def test_listen_reads_the_secret_from_a_file_and_answers_at_once(tmp_path: Path) -> None:
    secret_file = tmp_path / "gh.secret"
    secret_file.write_text(SECRET + "\n")
    cmd = [sys.executable, "-m", "aikit", "listen", "--port", "0", "--store", str(tmp_path / "w.sqlite"),
           "--source", f"gh:github:@{secret_file}"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[1].startswith("listening gh "), lines
        url = lines[1].split()[-1]
        body = json.dumps({"delivery": "d-1"}).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"x-hub-signature-256": sig, "x-github-event": "push", "x-github-delivery": "d-1"}
        assert httpx.post(url, content=body, headers=headers).status_code == 200  # at once: no retry
        forged = httpx.post(url, content=body, headers={**headers, "x-hub-signature-256": "sha256=00"})
        assert forged.status_code in (400, 401)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert SECRET not in "".join(lines) + out + err
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "aikit",
            "listen",
            "--port",
            "0",
            "--source",
            f"gh:github:@{tmp_path / 'nope'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "cannot read the secret file" in missing.stderr
