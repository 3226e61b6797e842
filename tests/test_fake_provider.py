"""The fake AI provider over loopback HTTP: both wire formats, streaming, limits, faults, counters."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from aikit.exceptions import ConfigError
from aikit.testing import FakeConfig, FakeProvider, fake_reply
from aikit.testing.fake_cli import add_arguments, config_from_args
from aikit.testing.fake_wire import go_duration, schema_instance

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Classify: great service"}]
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "ok": {"type": "boolean"},
        "when": {"type": "string", "format": "date"},
    },
    "required": ["label", "score", "count", "tags", "ok", "when"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeProvider) -> Iterator[FakeProvider]:
    """The shared server, reset to the default config before each test."""
    server.configure(**FakeConfig().to_dict(include_secrets=True))
    server.reset()
    yield server


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=10) as c:
        yield c


def chat(client: httpx.Client, content: str = "Classify: great service", **extra: Any) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
    return client.post("/chat/completions", json=body)


def sse(text: str) -> list[tuple[str, str]]:
    events, name = [], ""
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, line[6:]))
            name = ""
    return events


# -- OpenAI wire format ----------------------------------------------------------------------------
def test_openai_chat_is_deterministic_and_counts_tokens(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "gpt-4o-mini"
    choice = data["choices"][0]
    assert choice["message"]["content"] == fake_reply("gpt-4o-mini", MESSAGES)
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] == (len("be brief") // 4 + 4) + (len("Classify: great service") // 4 + 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    again = client.post("/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES}).json()
    assert again["choices"][0]["message"]["content"] == choice["message"]["content"]
    other = chat(client, "something else").json()["choices"][0]["message"]["content"]
    assert other != choice["message"]["content"]


def test_openai_json_schema_answer_is_valid(client: httpx.Client) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMA, "strict": True}}
    r = chat(client, response_format=fmt)
    value = json.loads(r.json()["choices"][0]["message"]["content"])
    jsonschema.validate(value, SCHEMA)
    labels = {
        json.loads(chat(client, f"row {i}", response_format=fmt).json()["choices"][0]["message"]["content"])[
            "label"
        ]
        for i in range(12)
    }
    assert len(labels) > 1  # the enum member depends on the prompt


def test_schema_instance_handles_pydantic_schemas() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Address(pydantic.BaseModel):
        city: str
        zip: str | None = None

    class Person(pydantic.BaseModel):
        name: str
        age: int = pydantic.Field(ge=18, le=99)
        home: Address
        others: list[Address]

    schema = Person.model_json_schema()
    assert "$defs" in schema
    for digest in ("0" * 64, "f" * 64, "0123456789abcdef" * 4):
        Person.model_validate(schema_instance(schema, digest))


def test_openai_stream_assembles_to_the_same_text(client: httpx.Client) -> None:
    plain = chat(client).json()
    r = chat(client, stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in sse(r.text)]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(d) for d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) >= 2
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    no_usage = [json.loads(d) for _, d in sse(chat(client, stream=True).text)[:-1]]
    assert all("usage" not in c for c in no_usage)


def test_stream_chunks_arrive_over_time(fake: FakeProvider) -> None:
    fake.configure(stream_delay_s=0.05, stream_chunk_chars=4)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    arrivals = []
    with httpx.Client(timeout=10) as c, c.stream("POST", fake.base_url + "/chat/completions", json=body) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic())
    assert len(arrivals) >= 4 and arrivals[-1] - arrivals[0] >= 0.15


def test_max_tokens_truncates_with_finish_length(client: httpx.Client) -> None:
    data = chat(client, max_completion_tokens=2).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 2 and len(data["choices"][0]["message"]["content"]) == 8


# -- Anthropic wire format -------------------------------------------------------------------------
def anthropic(client: httpx.Client, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "be brief", **extra}
    body.setdefault("messages", [{"role": "user", "content": "Classify: great service"}])
    return client.post("/messages", json=body, headers=ANTHROPIC_HEADERS if headers is None else headers)


def test_anthropic_message_matches_openai_reply(client: httpx.Client) -> None:
    data = anthropic(client).json()
    assert data["type"] == "message" and data["role"] == "assistant" and data["stop_reason"] == "end_turn"
    assert data["content"] == [{"type": "text", "text": fake_reply("claude-sonnet-4-5", MESSAGES)}]
    assert data["usage"]["input_tokens"] > 0 and data["usage"]["output_tokens"] > 0


def test_anthropic_forced_tool_and_its_stream(client: httpx.Client) -> None:
    tools = [{"name": "answer", "description": "d", "input_schema": SCHEMA}]
    choice = {"type": "tool", "name": "answer"}
    data = anthropic(client, tools=tools, tool_choice=choice).json()
    assert data["stop_reason"] == "tool_use"
    (block,) = data["content"]
    assert block["type"] == "tool_use" and block["name"] == "answer"
    jsonschema.validate(block["input"], SCHEMA)
    events = sse(anthropic(client, tools=tools, tool_choice=choice, stream=True).text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop" and "message_delta" in names
    partial = "".join(json.loads(d)["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert json.loads(partial) == block["input"]


def test_anthropic_text_stream_events(client: httpx.Client) -> None:
    plain = anthropic(client).json()
    events = sse(anthropic(client, stream=True).text)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == n for p, (n, _) in zip(payloads, events, strict=True))
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == plain["content"][0]["text"]
    assert payloads[0]["message"]["usage"]["input_tokens"] == plain["usage"]["input_tokens"]
    delta = payloads[-2]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] > 0


def test_anthropic_validation_errors(client: httpx.Client) -> None:
    r = anthropic(client, headers={})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in r.json()["error"]["message"]
    bad_role = anthropic(
        client, messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    )
    assert bad_role.status_code == 400
    r = client.post(
        "/messages",
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers=ANTHROPIC_HEADERS,
    )
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
    assert client.post("/chat/completions", content=b"{not json").status_code == 400
    assert client.post("/chat/completions", json={"model": "m"}).status_code == 400
    assert chat(client, max_tokens="ten").status_code == 400
    assert chat(client, "[[fake:status=abc]]").status_code == 400


def test_models_and_unknown_paths(client: httpx.Client) -> None:
    data = client.get("/models").json()
    assert [m["id"] for m in data["data"]] == list(FakeConfig().models)
    assert data["object"] == "list" and data["has_more"] is False
    assert client.get("/nope").status_code == 404
    assert client.get("/chat/completions").status_code == 405


# -- keys ------------------------------------------------------------------------------------------
def test_api_key_required(fake: FakeProvider, client: httpx.Client) -> None:
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


# -- rate limits -----------------------------------------------------------------------------------
def test_rpm_bucket_answers_429_with_headers(fake: FakeProvider, client: httpx.Client) -> None:
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


def test_tpm_bucket_and_refill(fake: FakeProvider, client: httpx.Client) -> None:
    fake.configure(tpm=60_000, default_max_tokens=100)  # 1,000 tokens/s, bucket of 1,000
    statuses = [chat(client).status_code for _ in range(15)]  # each costs ~110 tokens
    assert statuses[:9] == [200] * 9 and statuses[-1] == 429
    r = chat(client)
    assert r.headers["x-ratelimit-limit-tokens"] == "60000" and "x-ratelimit-limit-requests" not in r.headers
    assert r.json()["error"]["type"] == "tokens"
    time.sleep(0.3)
    assert chat(client).status_code == 200


def test_rate_window_under_load(fake: FakeProvider) -> None:
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


# -- faults ----------------------------------------------------------------------------------------
def test_injected_errors_are_seeded(fake: FakeProvider, client: httpx.Client) -> None:
    fake.configure(error_rate=0.5, error_statuses=[502, 503], seed=7)
    first = [chat(client).status_code for _ in range(30)]
    fake.reset()
    second = [chat(client).status_code for _ in range(30)]
    assert first == second
    assert set(first) == {200, 502, 503}
    assert fake.stats()["injected_errors"] == sum(s != 200 for s in second)
    err = next(r for r in (chat(client) for _ in range(20)) if r.status_code != 200)
    assert err.json()["error"]["type"] == "server_error"


def test_slow_and_hang(fake: FakeProvider) -> None:
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


def test_latency_is_lognormal_around_the_median(fake: FakeProvider) -> None:
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


# -- per-request directives ------------------------------------------------------------------------
def test_directives_and_fail_trigger(client: httpx.Client) -> None:
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


# -- admin and counters ----------------------------------------------------------------------------
def test_admin_endpoints_over_http(fake: FakeProvider, client: httpx.Client) -> None:
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


def test_counters(fake: FakeProvider) -> None:
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


# -- config, CLI, process form ---------------------------------------------------------------------
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


def test_process_form(monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_thread_form_stops_with_a_request_hanging() -> None:
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


def test_stop_answers_sleeping_requests_at_once() -> None:
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
