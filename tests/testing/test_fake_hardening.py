"""The fake provider guards its admin routes with its key, speaks Azure's shape, and keeps keys off argv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from aikit.testing import FakeConfig, FakeProvider

KEY = "sk-admin-canary-4e2f"
BODY = {"messages": [{"role": "user", "content": "hi"}]}


def test_admin_routes_need_the_key_when_one_is_set() -> None:
    with FakeProvider(FakeConfig(api_key=KEY, rpm=600)) as fake, httpx.Client(base_url=fake.url) as c:
        assert c.get("/_admin/health").status_code == 200  # liveness stays open
        for method, path, body in (
            ("GET", "/_admin/config", None),
            ("GET", "/_admin/stats", None),
            ("POST", "/_admin/config", {"rpm": 1}),
            ("POST", "/_admin/reset", None),
            ("POST", "/_admin/release", None),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 401 and KEY not in r.text, (method, path)
        assert fake.config.rpm == 600  # the anonymous change did not happen
        ok = c.post("/_admin/config", json={"rpm": 120}, headers={"authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["rpm"] == 120 and ok.json()["api_key"] == "***"
        assert c.get("/_admin/stats", headers={"x-api-key": KEY}).json()["requests"] == 0


def test_azure_routes_take_the_key_in_api_key_and_need_the_api_version() -> None:
    with FakeProvider(FakeConfig(api_key=KEY)) as fake, httpx.Client(base_url=fake.url) as c:
        url = "/openai/deployments/my-gpt/chat/completions"
        ok = c.post(url, params={"api-version": "2024-10-21"}, json=BODY, headers={"api-key": KEY})
        assert ok.status_code == 200 and ok.json()["model"] == "my-gpt"
        bearer = c.post(
            url, params={"api-version": "2024-10-21"}, json=BODY, headers={"authorization": f"Bearer {KEY}"}
        )
        assert bearer.status_code == 401
        no_version = c.post(url, json=BODY, headers={"api-key": KEY})
        assert no_version.status_code == 400 and "api-version" in no_version.text
        v1 = c.post("/openai/v1/chat/completions", json={**BODY, "model": "gpt-4o"}, headers={"api-key": KEY})
        assert v1.status_code == 200 and v1.json()["model"] == "gpt-4o"
        assert fake.stats()["by_path"] == {url: 3, "/openai/v1/chat/completions": 1}


def test_serve_fake_takes_its_key_from_a_file_and_is_ready_when_it_prints(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "fake", "--port", "0", "--api-key", KEY],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--api-key-file" in refused.stderr and KEY not in refused.stderr
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aikit", "serve", "fake", "--port", "0", "--api-key-file", str(key_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        with httpx.Client(base_url=base_url) as c:  # at once: no retry
            assert c.post("/chat/completions", json={**BODY, "model": "m"}).status_code == 401
            ok = c.post(
                "/chat/completions", json={**BODY, "model": "m"}, headers={"authorization": f"Bearer {KEY}"}
            )
            assert ok.status_code == 200
            assert c.get(base_url.removesuffix("/v1") + "/_admin/config").status_code == 401
    finally:
        proc.terminate()
        proc.wait(15)
