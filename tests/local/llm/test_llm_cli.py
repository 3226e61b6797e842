"""``aikit serve ai`` as a real subprocess, used by the official ``openai`` SDK (a test-only dependency)."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytestmark = pytest.mark.local_llm

openai = pytest.importorskip("openai")

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "reason": {"type": "string", "maxLength": 40},
    },
    "required": ["sentiment", "reason"],
    "additionalProperties": False,
}


@contextmanager
def serve_ai(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``aikit serve ai --port 0 ARGS`` and yield its ``http://127.0.0.1:P/v1`` URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aikit", "serve", "ai", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline and not line:
                if sel.select(0.2):
                    line = proc.stdout.readline()
                    if not line:
                        break
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert match, f"no address printed: {line!r} {proc.poll()=}"
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _ask(client: object, text: str) -> dict[str, str]:
    response = client.chat.completions.create(  # type: ignore[attr-defined]
        model="local",
        messages=[
            {"role": "system", "content": "Classify the customer's sentiment and give a short reason."},
            {"role": "user", "content": text},
        ],
        temperature=0,
        max_tokens=120,  # a tiny model may ramble until maxLength closes the string
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "sentiment", "schema": SCHEMA, "strict": True},
        },
    )
    data: dict[str, str] = json.loads(response.choices[0].message.content)
    return data


def test_openai_sdk_gets_schema_valid_output_without_a_key_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIKIT_LOCAL_API_KEY", raising=False)
    with serve_ai() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="anything", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == ["local"]
        data = _ask(client, "The package arrived broken and support never answered.")
        assert set(data) == {"sentiment", "reason"}
        assert data["sentiment"] in {"positive", "negative", "neutral"}
        assert isinstance(data["reason"], str) and len(data["reason"]) <= 40
        stream = client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8, stream=True
        )
        chunks = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(chunks).strip()


def test_api_key_from_the_environment_is_enforced() -> None:
    key = "canary-key-4d1f9a7e"
    with serve_ai(env={"AIKIT_LOCAL_API_KEY": key}) as base_url:
        wrong = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0, timeout=30)
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.models.list()
        assert key not in str(info.value)
        right = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
        assert _ask(right, "Thank you, great service!")["sentiment"] in {"positive", "negative", "neutral"}


def test_public_bind_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIKIT_LOCAL_API_KEY", raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "ai", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--api-key" in out.stderr


def test_missing_model_file_is_a_clear_error(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "ai", "--port", "0", "--model", "/nonexistent/m.gguf"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "/nonexistent/m.gguf" in out.stderr and "Traceback" not in out.stderr
