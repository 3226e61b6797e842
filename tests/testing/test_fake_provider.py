"""The fake provider's two forms (a thread, a child process), its config and its command line."""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import time
from collections.abc import Callable

import httpx
import pytest

from aikit.exceptions import ConfigError
from aikit.testing import FakeConfig, FakeProvider
from aikit.testing.fake_cli import add_arguments, config_from_args
from aikit.testing.fake_wire import go_duration

#: The ``chat`` fixture (tests/testing/conftest.py): ``chat(client, content=..., **body) -> response``.
Helper = Callable[..., httpx.Response]


def test_config_validation_and_cli_flags() -> None:
    for bad in ({"error_rate": 1.5}, {"rpm": 0}, {"retry_after": "x"}, {"error_rate": 0.6, "hang_rate": 0.6}):
        with pytest.raises(ConfigError):
            FakeConfig.from_mapping(bad)
    with pytest.raises(ConfigError, match="unknown"):
        FakeConfig.from_mapping({"nope": 1})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--port", "0", "--rpm", "3000", "--latency-median", "0.3", "--error-rate", "0.01"]
    )
    cfg = config_from_args(args)
    assert (cfg.rpm, cfg.latency_median_s, cfg.error_rate, cfg.tpm) == (3000, 0.3, 0.01, None)
    assert go_duration(360) == "6m0s" and go_duration(17.28) == "17.28s" and go_duration(0.02) == "20ms"


def test_process_form(monkeypatch: pytest.MonkeyPatch, chat: Helper) -> None:
    fake = FakeProvider.start_process(FakeConfig(api_key="sk-proc", rpm=600))
    try:
        assert fake.pid is not None and fake.base_url.startswith("http://127.0.0.1:")
        headers = {"authorization": "Bearer sk-proc"}
        with httpx.Client(base_url=fake.base_url, headers=headers, timeout=10) as c:
            assert chat(c).status_code == 200
            fake.configure(rpm=60)
            assert chat(c).status_code == 200
            assert chat(c).status_code == 429
        stats = fake.stats()
        assert stats["requests"] == 3 and stats["rate_limited"] == 1
        fake.reset()
        assert fake.stats()["requests"] == 0
    finally:
        pid = fake.pid
        fake.stop()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)
    fake.stop()  # idempotent


def test_thread_form_stops_with_a_request_hanging(chat: Helper) -> None:
    fake = FakeProvider(hang_rate=1.0).start()
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        httpx.Client(base_url=fake.base_url, timeout=10) as c,
    ):
        pending = pool.submit(chat, c)
        deadline = time.monotonic() + 2
        while fake.stats()["hangs"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        fake.stop()
        assert time.monotonic() - t0 < 3
        assert pending.result(5).status_code == 503
    assert math.isfinite(t0)


def test_process_form_does_not_outlive_a_crashed_parent() -> None:
    import os
    import subprocess
    import sys

    script = (
        "import os\n"
        "from aikit.testing import FakeProvider\n"
        "fake = FakeProvider.start_process()\n"
        "print(fake.pid, flush=True)\n"
        "os._exit(1)  # no stop(), no atexit: the child must notice on its own\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail("the fake provider process outlived its parent")


def test_stop_answers_sleeping_requests_at_once(chat: Helper) -> None:
    fake = FakeProvider(latency_median_s=5, latency_sigma=0.01).start()
    with (
        concurrent.futures.ThreadPoolExecutor(3) as pool,
        httpx.Client(base_url=fake.base_url, timeout=10) as c,
    ):
        pending = [pool.submit(chat, c, f"row {i}") for i in range(3)]
        deadline = time.monotonic() + 2
        while fake.stats()["in_flight"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        fake.stop()
        assert time.monotonic() - t0 < 2
        assert [p.result(5).status_code for p in pending] == [503, 503, 503]
