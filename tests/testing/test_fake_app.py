"""The fake provider's behaviour over loopback HTTP: keys, rate limits, faults, directives, counters."""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from collections.abc import Callable

import httpx
import jsonschema
import pytest

from aikit.testing import FakeProvider

#: The ``chat`` and ``anthropic`` fixtures (tests/testing/conftest.py): ``(client, ...) -> response``.
Helper = Callable[..., httpx.Response]

MESSAGES = [{"role": "user", "content": "Classify: great service"}]
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}, "ok": {"type": "boolean"}},
    "required": ["label", "ok"],
    "additionalProperties": False,
}


def test_api_key_required(fake: FakeProvider, client: httpx.Client, chat: Helper, anthropic: Helper) -> None:
    canary = "sk-canary-0042"
    fake.configure(api_key="sk-right")
    assert "sk-right" not in repr(fake.config) and "sk-right" not in json.dumps(fake.stats())
    missing = chat(client)
    wrong = client.post(
        "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"authorization": f"Bearer {canary}"},
    )
    for r in (missing, wrong):
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key" and canary not in r.text
    ok = client.post(
        "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"authorization": "Bearer sk-right"},
    )
    assert ok.status_code == 200
    assert anthropic(client, headers={**ANTHROPIC_HEADERS, "x-api-key": "sk-right"}).status_code == 200
    bad = anthropic(client, headers={**ANTHROPIC_HEADERS, "x-api-key": "nope"})
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "authentication_error"
    assert client.get("/models").status_code == 401
    assert fake.stats()["by_status"] == {"200": 2, "401": 4}


def test_rpm_bucket_answers_429_with_headers(
    fake: FakeProvider, client: httpx.Client, chat: Helper, anthropic: Helper
) -> None:
    fake.configure(rpm=60)  # 1 per second, bucket of 1
    first = chat(client)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "60"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert re.fullmatch(r"\d+ms|1(\.\d+)?s", first.headers["x-ratelimit-reset-requests"])
    second = chat(client)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert second.headers["retry-after"] == "1"
    assert 500 < int(second.headers["retry-after-ms"]) <= 1000
    time.sleep(int(second.headers["retry-after-ms"]) / 1000 + 0.02)
    assert chat(client).status_code == 200
    msg = anthropic(client)
    assert msg.status_code == 429 and msg.json()["error"]["type"] == "rate_limit_error"
    assert msg.headers["anthropic-ratelimit-requests-limit"] == "60"
    assert msg.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert msg.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert msg.headers["retry-after"] == "1"
    stats = fake.stats()
    assert stats["rate_limited"] == 2 and stats["ok"] == 2


def test_tpm_bucket_and_refill(fake: FakeProvider, client: httpx.Client, chat: Helper) -> None:
    fake.configure(tpm=60_000, default_max_tokens=100)  # 1,000 tokens/s, bucket of 1,000
    statuses = [chat(client).status_code for _ in range(15)]  # each costs ~110 tokens
    assert statuses[:9] == [200] * 9 and statuses[-1] == 429
    r = chat(client)
    assert r.headers["x-ratelimit-limit-tokens"] == "60000" and "x-ratelimit-limit-requests" not in r.headers
    assert r.json()["error"]["type"] == "tokens"
    time.sleep(0.3)
    assert chat(client).status_code == 200


def test_rate_window_under_load(fake: FakeProvider, chat: Helper) -> None:
    fake.configure(rpm=1200)  # 20/s, bucket 20
    with httpx.Client(base_url=fake.base_url, timeout=10) as c:
        t0 = time.monotonic()
        ok = 0
        while time.monotonic() - t0 < 1.5:
            ok += chat(c).status_code == 200
    assert 20 + 20 * 1.0 <= ok <= 20 + 20 * 1.6 + 1  # burst plus refill over the window
    stats = fake.stats()
    assert sum(count for _, count in stats["timeline"]) == stats["requests"]
    assert stats["rate_limited"] == stats["requests"] - ok


def test_injected_errors_are_seeded(fake: FakeProvider, client: httpx.Client, chat: Helper) -> None:
    fake.configure(error_rate=0.5, error_statuses=[502, 503], seed=7)
    first = [chat(client).status_code for _ in range(30)]
    fake.reset()
    second = [chat(client).status_code for _ in range(30)]
    assert first == second
    assert set(first) == {200, 502, 503}
    assert fake.stats()["injected_errors"] == sum(s != 200 for s in second)
    err = next(r for r in (chat(client) for _ in range(20)) if r.status_code != 200)
    assert err.json()["error"]["type"] == "server_error"


def test_slow_and_hang(fake: FakeProvider, chat: Helper) -> None:
    fake.configure(slow_rate=1.0, slow_s=0.3)
    with httpx.Client(base_url=fake.base_url, timeout=10) as c:
        t0 = time.monotonic()
        assert chat(c).status_code == 200
        assert time.monotonic() - t0 >= 0.3
    fake.configure(slow_rate=0.0, hang_rate=1.0)
    with httpx.Client(base_url=fake.base_url, timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            chat(c)
        assert time.monotonic() - t0 < 2
    deadline = time.monotonic() + 2
    while fake.stats()["disconnects"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = fake.stats()
    assert stats["hangs"] == 1 and stats["disconnects"] == 1 and stats["in_flight"] == 0


def test_latency_is_lognormal_around_the_median(fake: FakeProvider, chat: Helper) -> None:
    fake.configure(latency_median_s=0.1, latency_sigma=0.3)
    with httpx.Client(base_url=fake.base_url, timeout=10, limits=httpx.Limits(max_connections=20)) as c:
        chat(c)  # connect

        def timed(_: int) -> float:
            t0 = time.monotonic()
            assert chat(c).status_code == 200
            return time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            times = sorted(pool.map(timed, range(40)))
    median = times[len(times) // 2]
    assert 0.06 <= median <= 0.4
    assert times[-1] > times[0] + 0.03  # spread, not a constant delay
    assert fake.stats()["max_in_flight"] >= 5


def test_directives_and_fail_trigger(client: httpx.Client, chat: Helper, anthropic: Helper) -> None:
    scripted = "please [[fake:status=503,times=2]] answer"
    assert [chat(client, scripted).status_code for _ in range(3)] == [503, 503, 200]
    r = chat(client, "[[fake:status=429,retry_after=2]] x")
    assert r.status_code == 429 and r.headers["retry-after"] == "2" and r.headers["retry-after-ms"] == "2000"
    r = chat(client, "Tell me FAIL400 now")
    assert r.status_code == 400 and "FAIL400" in r.json()["error"]["message"]
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMA}}
    bad = chat(client, "[[fake:invalid_json,times=1]] y", response_format=fmt)
    with pytest.raises(ValueError):
        json.loads(bad.json()["choices"][0]["message"]["content"])
    good = chat(client, "[[fake:invalid_json,times=1]] y", response_format=fmt)
    jsonschema.validate(json.loads(good.json()["choices"][0]["message"]["content"]), SCHEMA)
    assert chat(client, "[[fake:finish=length]]").json()["choices"][0]["finish_reason"] == "length"
    msg = anthropic(client, messages=[{"role": "user", "content": "[[fake:finish=length]]"}]).json()
    assert msg["stop_reason"] == "max_tokens"


def test_admin_endpoints_over_http(fake: FakeProvider, client: httpx.Client, chat: Helper) -> None:
    admin = fake.url + "/_admin"
    r = client.post(admin + "/config", json={"rpm": 120, "error_statuses": [503]})
    assert r.status_code == 200 and r.json()["rpm"] == 120 and r.json()["error_statuses"] == [503]
    assert chat(client).headers["x-ratelimit-limit-requests"] == "120"
    bad = client.post(admin + "/config", json={"rpm_typo": 1})
    assert bad.status_code == 400 and "rpm_typo" in bad.json()["error"]["message"]
    assert client.post(admin + "/config", json={"error_rate": 2}).status_code == 400
    assert client.get(admin + "/config").json()["rpm"] == 120
    stats = client.get(admin + "/stats", params={"arrivals": 1}).json()
    assert stats["requests"] == 1 and len(stats["arrivals"]) == 1
    assert client.post(admin + "/reset").json() == {"reset": True}
    assert client.get(admin + "/stats").json()["requests"] == 0


def test_counters(fake: FakeProvider, chat: Helper) -> None:
    fake.configure(latency_median_s=0.2, latency_sigma=0.01)
    with httpx.Client(base_url=fake.base_url, timeout=10, limits=httpx.Limits(max_connections=10)) as c:
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(lambda i: chat(c, f"row {i}").status_code, range(10)))
        chat(c, "FAIL400")
    assert codes == [200] * 10
    stats = fake.stats()
    assert stats["requests"] == 11 and stats["by_status"] == {"200": 10, "400": 1}
    assert stats["by_path"] == {"/chat/completions": 11}
    assert stats["max_in_flight"] >= 8 and stats["in_flight"] == 0
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] == 10 * 5
    assert sum(n for _, n in stats["timeline"]) == 11
