"""The client's pure parts: prices, schemas, responses, request building (keys: tests/auth/)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aikit.client import AsyncAI
from aikit.client.pricing import PRICES, lookup, price, set_price
from aikit.client.response import Response, Usage
from aikit.client.schema import OutputSchema, SchemaMismatch
from aikit.exceptions import ConfigError


def test_prices_are_exact_or_unknown() -> None:
    assert price("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert price("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)  # dated snapshot
    assert price("anthropic", "claude-sonnet-4-5-20250929", 0, 1_000_000) == pytest.approx(15.0)
    assert lookup("openai", "gpt-4o") != lookup("openai", "gpt-4o-mini")  # longest name wins
    for provider, model in [
        ("openai", "gpt-4o-mini-audio-preview"),
        ("openai", "gpt-9"),
        ("compat", "gpt-4o"),
    ]:
        assert price(provider, model, 10, 10) is None  # never a guess
    assert price("local", "anything", 10, 10) == 0.0
    set_price("compat", "priced-in-this-test", 2.0, 4.0)
    try:
        assert price("compat", "priced-in-this-test", 500_000, 250_000) == pytest.approx(2.0)
    finally:
        del PRICES[("compat", "priced-in-this-test")]


def test_schema_from_dict_validates_and_explains() -> None:
    schema = OutputSchema.of({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    assert schema is not None and schema.name == "output"
    assert schema.parse('```json\n{"n": 3}\n```') == {"n": 3}  # fenced JSON is accepted
    with pytest.raises(SchemaMismatch, match="is not of type 'integer' \\(at n\\)"):
        schema.parse('{"n": "three"}')
    with pytest.raises(SchemaMismatch, match="not valid JSON"):
        schema.parse("n = 3")
    with pytest.raises(SchemaMismatch, match="'n' is a required property"):
        schema.parse("{}")
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        OutputSchema.of({"type": "objekt"})
    with pytest.raises(ConfigError, match="JSON Schema dict or a pydantic"):
        OutputSchema.of("tone")
    assert OutputSchema.of(None) is None


def test_schema_from_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Ticket(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        category: str
        urgent: bool

    schema = OutputSchema.of(Ticket)
    assert schema is not None and schema.name == "Ticket" and "category" in schema.json_schema["properties"]
    value = schema.parse('{"category": "bug", "urgent": true}')
    assert isinstance(value, Ticket) and value.urgent is True
    with pytest.raises(SchemaMismatch, match="urgent"):
        schema.parse('{"category": "bug"}')
    assert schema.load({"category": "x", "urgent": False}) == Ticket(category="x", urgent=False)


def test_response_cache_round_trip_never_stores_timings_or_flags() -> None:
    r = Response(
        text="t", model="m", usage=Usage(3, 4), data={"a": 1}, cost_usd=0.5, latency_s=2.0, attempts=3
    )
    stored = r.to_cache()
    assert set(stored) == {"text", "data", "usage", "model", "finish_reason", "cost_usd"}
    hit = Response.from_cache(stored, cache_key="k", latency_s=0.001)
    assert (hit.cached, hit.cost_usd, hit.saved_usd, hit.attempts, hit.usage, hit.data) == (
        True,
        0.0,
        0.5,
        0,
        Usage(3, 4),
        {"a": 1},
    )
    assert str(hit) == "t" and hit.usage.total_tokens == 7


def test_request_building_and_validation() -> None:
    ai = AsyncAI("openai:gpt-4o-mini", cache=False)
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert ai.cache_key(messages) != ai.cache_key("a")
    assert ai.cache_key(messages, temperature=None) == ai.cache_key(messages)  # None means "not set"
    for bad in (42, [], [{"content": "no role"}]):
        with pytest.raises(ConfigError):
            ai.cache_key(bad)
    with pytest.raises(ConfigError, match="max_tokens must be a positive int"):
        ai.cache_key("x", max_tokens=0)
    with pytest.raises(ConfigError, match="timeout"):
        AsyncAI("openai:gpt-4o-mini", timeout=0)
    local = AsyncAI("local", cache=False)
    assert local.cache_key("x") == local.cache_key("x", temperature=0)  # local defaults to temperature 0
    assert repr(AsyncAI("openai:gpt-4o-mini", api_key="sk-secret-1")) == "AsyncAI('openai:gpt-4o-mini')"


def test_describe_keeps_the_cache_location(tmp_path: Path) -> None:
    from aikit.client.cache import open_cache

    cases = [(None, False), (False, False), (True, True), (str(tmp_path / "a"), str(tmp_path / "a"))]
    cases += [(tmp_path / "b", str(tmp_path / "b")), (open_cache(tmp_path / "c"), str(tmp_path / "c"))]
    for spec, described in cases:
        d = AsyncAI("ollama:m", cache=spec).describe()
        assert d["cache"] == described
        assert AsyncAI.from_description(pickle.loads(pickle.dumps(d))).describe() == d
