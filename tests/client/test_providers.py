"""Providers are sans-I/O: requests built, answers and SSE parsed, errors classified, limits read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from aikit.auth.secrets import Secret
from aikit.client.providers import make_provider, parse_model
from aikit.client.providers.anthropic import AnthropicProvider
from aikit.client.providers.base import ChatRequest, SSEDecoder, parse_duration
from aikit.client.providers.openai import OpenAIProvider
from aikit.client.schema import OutputSchema
from aikit.exceptions import ConfigError
from aikit.testing import FakeConfig, FakeProvider

SCHEMA = {"type": "object", "properties": {"tone": {"enum": ["pos", "neg"]}}, "required": ["tone"]}


def _req(**kw: object) -> ChatRequest:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    return ChatRequest("m", messages, dict(kw.pop("params", {"temperature": 0})), **kw)  # type: ignore[arg-type]


# -- model strings -----------------------------------------------------------------------------------
def test_parse_model_defaults_and_overrides() -> None:
    assert parse_model("anthropic:claude-sonnet-4-5").base_url == "https://api.anthropic.com/v1"
    assert parse_model("ollama:llama3.2").base_url == "http://127.0.0.1:11434/v1"
    spec = parse_model("compat:my-model", base_url="http://127.0.0.1:8000/v1/")
    assert (spec.provider, spec.model, spec.base_url, spec.key_required) == (
        "compat",
        "my-model",
        "http://127.0.0.1:8000/v1",
        False,
    )
    assert parse_model("openai:gpt-4o-mini").key_variables == ("OPENAI_API_KEY", "AIKIT_API_KEY")
    local = parse_model("local:/models/x.gguf")
    assert (local.provider, local.model, local.base_url) == ("local", "/models/x.gguf", None)


@pytest.mark.parametrize(
    ("spec", "base_url", "match"),
    [
        ("gpt-4o-mini", None, 'did you mean "openai:gpt-4o-mini"'),
        ("bogus:model", None, "unknown provider 'bogus'"),
        ("openai:", None, "names no model"),
        ("compat:m", None, "needs base_url="),
        ("compat:m", "ftp://host/v1", "must start with http"),
        ("local", "http://127.0.0.1:1/v1", "compat:"),
    ],
)
def test_parse_model_errors_say_how_to_fix(spec: str, base_url: str | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_model(spec, base_url)


# -- OpenAI ------------------------------------------------------------------------------------------
def test_openai_request_body_and_headers() -> None:
    p = OpenAIProvider("openai", "https://api.openai.com/v1/")
    schema = OutputSchema.of(SCHEMA)
    request = p.build_request(_req(params={"temperature": 0, "max_tokens": 5}, schema=schema), Secret("sk-x"))
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-x"
    body = json.loads(request.content)
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body  # OpenAI's own field
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA
    assert fmt["json_schema"]["strict"] is False  # not strict-compatible: no additionalProperties=false
    strict = {**SCHEMA, "additionalProperties": False}
    body = p.body(_req(schema=OutputSchema.of(strict)))
    assert body["response_format"]["json_schema"]["strict"] is True


def test_compatible_servers_get_max_tokens_and_no_auth_without_key() -> None:
    p = OpenAIProvider("compat", "http://127.0.0.1:8000/v1")
    request = p.build_request(_req(params={"max_tokens": 7, "stop": None}, stream=True), None)
    body = json.loads(request.content)
    assert body["max_tokens"] == 7 and "stop" not in body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "authorization" not in request.headers


def test_openai_parse_answer_and_refusal() -> None:
    p = OpenAIProvider("openai", "https://x/v1")
    body = {
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    parsed = p.parse_response(httpx.Response(200, json=body), _req())
    assert (parsed.text, parsed.model, parsed.usage.total_tokens, parsed.finish_reason) == (
        "hello",
        "gpt-4o-mini-2024-07-18",
        11,
        "stop",
    )
    refusal = {"choices": [{"message": {"content": None, "refusal": "I can't"}, "finish_reason": "stop"}]}
    parsed = p.parse_response(httpx.Response(200, json=refusal), _req())
    assert (parsed.text, parsed.finish_reason, parsed.model) == ("I can't", "refusal", "m")
    with pytest.raises(ValueError):
        p.parse_response(httpx.Response(200, json={"choices": []}), _req())


def test_openai_errors_and_rate_limit_headers() -> None:
    p = OpenAIProvider("openai", "https://x/v1")
    err = p.error_info(
        httpx.Response(
            429, json={"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": "250"}
        )
    )
    assert (err.status, err.message, err.retryable, err.retry_after) == (
        429,
        "Rate limit reached",
        True,
        0.25,
    )
    assert not p.error_info(httpx.Response(400, json={"error": {"message": "bad"}})).retryable
    assert not p.error_info(httpx.Response(500, headers={"x-should-retry": "false"})).retryable
    assert p.error_info(httpx.Response(400, headers={"x-should-retry": "true"})).retryable
    assert p.error_info(httpx.Response(502, text="Bad gateway")).message == "Bad gateway"
    limits = p.rate_limits(
        httpx.Headers({"x-ratelimit-limit-requests": "3000", "x-ratelimit-limit-tokens": "250000"})
    )
    assert (limits.rpm, limits.tpm) == (3000.0, 250000.0)
    assert not p.rate_limits(httpx.Headers({}))
    assert parse_duration("1m30s") == 90.0


def _sse(lines: list[str]) -> Iterator[tuple[str, str]]:
    dec = SSEDecoder()
    for line in lines:
        yield from dec.feed(line)
    yield from dec.flush()


def test_openai_stream_chunks() -> None:
    p = OpenAIProvider("compat", "http://x/v1")
    chunk = {"model": "m2", "choices": [{"delta": {"content": "Hel"}}]}
    last = {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    lines = [": keep-alive", ""]
    for c in (chunk, last, usage):
        lines += [f"data: {json.dumps(c)}", ""]
    lines += ["data: [DONE]"]  # no trailing blank line: flushed at the end
    dec = p.stream_decoder(_req())
    deltas = [d for e, data in _sse(lines) if (d := dec.feed(e, data))]
    assert deltas == ["Hel", "lo"] and dec.done
    result = dec.result()
    assert (result.text, result.model, result.usage.output_tokens, result.finish_reason) == (
        "Hello",
        "m2",
        2,
        "stop",
    )


# -- Anthropic ---------------------------------------------------------------------------------------
def test_anthropic_request_moves_system_and_forces_the_schema_tool() -> None:
    p = AnthropicProvider("https://api.anthropic.com/v1")
    request = p.build_request(_req(schema=OutputSchema.of(SCHEMA), params={"stop": "END"}), Secret("sk-ant"))
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant" and request.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(request.content)
    assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == 1024 and body["stop_sequences"] == ["END"]
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "output"}
    # a non-object schema is wrapped (tool inputs are objects) and unwrapped on the way back
    arr = OutputSchema.of({"type": "array", "items": {"type": "integer"}})
    assert p.body(_req(schema=arr))["tools"][0]["input_schema"]["required"] == ["value"]
    answer = {"content": [{"type": "tool_use", "name": "output", "input": {"value": [1, 2]}}], "usage": {}}
    assert p.parse_response(httpx.Response(200, json=answer), _req(schema=arr)).text == "[1, 2]"


def test_anthropic_parse_errors_and_limits() -> None:
    p = AnthropicProvider("https://x/v1")
    body = {
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
        "usage": {"input_tokens": 10, "output_tokens": 3},
        "stop_reason": "end_turn",
    }
    parsed = p.parse_response(httpx.Response(200, json=body), _req())
    assert (parsed.text, parsed.usage.input_tokens, parsed.finish_reason) == ("Hi there", 10, "end_turn")
    err = p.error_info(httpx.Response(529, json={"type": "error", "error": {"message": "Overloaded"}}))
    assert err.retryable and err.message == "Overloaded"
    limits = p.rate_limits(
        httpx.Headers(
            {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-input-tokens-limit": "40000"}
        )
    )
    assert (limits.rpm, limits.tpm) == (50.0, 40000.0)


def test_anthropic_stream_events() -> None:
    p = AnthropicProvider("https://x/v1")
    events = [
        ("message_start", {"type": "message_start", "message": {"model": "c", "usage": {"input_tokens": 7}}}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}},
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "!"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    lines: list[str] = []
    for name, data in events:
        lines += [f"event: {name}", f"data: {json.dumps(data)}", ""]
    dec = p.stream_decoder(_req())
    assert [d for e, data in _sse(lines) if (d := dec.feed(e, data))] == ["Hi", "!"]
    result = dec.result()
    assert dec.done and (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("Hi!", 7, 2)


# -- both wire formats against the fake server, over loopback ------------------------------------------
@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key="sk-wire", rpm=6000, tpm=1_000_000)


@pytest.mark.parametrize("spec", ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "compat:fake-model"])
def test_each_wire_format_round_trips_over_loopback(fake: FakeProvider, spec: str) -> None:
    provider = make_provider(parse_model(spec, fake.base_url))
    schema = OutputSchema.of(SCHEMA)
    req = _req(schema=schema, params={"temperature": 0, "max_tokens": 20})
    with httpx.Client() as http:
        resp = http.send(provider.build_request(req, Secret("sk-wire")))
        assert resp.status_code == 200, resp.text
        parsed = provider.parse_response(resp, req)
        assert schema is not None and schema.parse(parsed.text)["tone"] in ("pos", "neg")
        assert parsed.usage.input_tokens > 0 and parsed.usage.output_tokens > 0
        limits = provider.rate_limits(resp.headers)
        assert (limits.rpm, limits.tpm) == (6000.0, 1_000_000.0)
        # a wrong key is a non-retryable error with the provider's message
        bad = http.send(provider.build_request(req, Secret("sk-wrong")))
        info = provider.error_info(bad)
        assert (info.status, info.retryable) == (401, False) and info.message
        # streaming: deltas reassemble to the same answer as the plain call
        sreq = _req(params={"temperature": 0, "max_tokens": 20}, stream=True)
        plain = provider.parse_response(
            http.send(
                provider.build_request(_req(params={"temperature": 0, "max_tokens": 20}), Secret("sk-wire"))
            ),
            sreq,
        )
        sresp = http.send(provider.build_request(sreq, Secret("sk-wire")), stream=True)
        try:
            dec, sse = provider.stream_decoder(sreq), SSEDecoder()
            deltas = [
                d for line in sresp.iter_lines() for e, data in sse.feed(line) if (d := dec.feed(e, data))
            ]
        finally:
            sresp.close()
        assert len(deltas) > 1 and "".join(deltas) == plain.text == dec.result().text
        assert dec.result().usage.output_tokens == plain.usage.output_tokens
