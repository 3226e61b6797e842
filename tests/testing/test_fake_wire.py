"""The fake provider's two wire formats over loopback HTTP: replies, schemas, streams, validation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import jsonschema
import pytest

from aikit.testing import FakeConfig, FakeProvider, fake_reply
from aikit.testing.fake_wire import schema_instance

#: The ``chat`` and ``anthropic`` fixtures (tests/testing/conftest.py): ``(client, ...) -> response``.
Helper = Callable[..., httpx.Response]

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


def sse(text: str) -> list[tuple[str, str]]:
    events, name = [], ""
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, line[6:]))
            name = ""
    return events


def test_openai_chat_is_deterministic_and_counts_tokens(client: httpx.Client, chat: Helper) -> None:
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


def test_openai_json_schema_answer_is_valid(client: httpx.Client, chat: Helper) -> None:
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


def test_openai_stream_assembles_to_the_same_text(client: httpx.Client, chat: Helper) -> None:
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


def test_max_tokens_truncates_with_finish_length(client: httpx.Client, chat: Helper) -> None:
    data = chat(client, max_completion_tokens=2).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 2 and len(data["choices"][0]["message"]["content"]) == 8


def test_anthropic_message_matches_openai_reply(client: httpx.Client, anthropic: Helper) -> None:
    data = anthropic(client).json()
    assert data["type"] == "message" and data["role"] == "assistant" and data["stop_reason"] == "end_turn"
    assert data["content"] == [{"type": "text", "text": fake_reply("claude-sonnet-4-5", MESSAGES)}]
    assert data["usage"]["input_tokens"] > 0 and data["usage"]["output_tokens"] > 0


def test_anthropic_forced_tool_and_its_stream(client: httpx.Client, anthropic: Helper) -> None:
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


def test_anthropic_text_stream_events(client: httpx.Client, anthropic: Helper) -> None:
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


def test_anthropic_validation_errors(client: httpx.Client, chat: Helper, anthropic: Helper) -> None:
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
