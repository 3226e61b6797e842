"""Tool calls end to end: definitions, the OpenAI and Anthropic wire formats (plain and streamed),
validation of the model's arguments, the cache, and the official SDKs against the fake provider."""

from __future__ import annotations

import json
from typing import Literal

import pytest

import aikit
from aikit.client.tools import Tool, ToolCall, tools_of, validated_calls
from aikit.exceptions import ConfigError, InvalidOutputError
from aikit.testing import FakeProvider
from tests.conftest import FAKE_KEY


def search_tickets(query: str, priority: Literal["low", "high"] = "low", limit: int = 5) -> list[str]:
    """Search the support tickets.

    Longer text the model does not need.
    """
    return [f"{query}-{priority}-{i}" for i in range(limit)]


def get_ticket(ticket_id: str) -> dict[str, str]:
    """Get one ticket by id."""
    return {"id": ticket_id}


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _ai(fake: FakeProvider, model: str = "compat:gpt-4o-mini", **kw: object) -> aikit.AI:
    if model.startswith("anthropic"):
        return aikit.AI(model, base_url=fake.base_url, api_key=FAKE_KEY, **kw)  # type: ignore[arg-type]
    return aikit.AI(model, base_url=fake.base_url, api_key=FAKE_KEY, **kw)  # type: ignore[arg-type]


def test_tool_definitions_from_functions_models_and_schemas() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Tag(pydantic.BaseModel):
        """Tag a ticket."""

        ticket_id: str
        tag: str

    fn, model, schema = tools_of([search_tickets, Tag, WEATHER])
    assert fn.description == "Search the support tickets."
    assert fn.parameters["properties"]["priority"] == {"enum": ["low", "high"]}
    assert fn.parameters["required"] == ["query"]
    assert model.name == "Tag" and set(model.parameters["required"]) == {"ticket_id", "tag"}
    assert schema.name == "weather" and schema.fn is None
    with pytest.raises(ConfigError, match="unique"):
        tools_of([search_tickets, search_tickets])
    with pytest.raises(ConfigError, match="tool name"):
        Tool.of({"name": "has space", "parameters": {"type": "object"}})
    with pytest.raises(ConfigError, match="list"):
        tools_of(search_tickets)


def test_arguments_are_validated() -> None:
    tools = tools_of([search_tickets])
    ok = validated_calls(tools, (ToolCall("1", "search_tickets", '{"query": "refund", "limit": 2}'),))
    assert ok[0].arguments == {"query": "refund", "limit": 2}
    for bad in ('{"limit": 2}', '{"query": "x", "priority": "urgent"}', "not json", "[1]"):
        with pytest.raises(ValueError, match="search_tickets"):
            validated_calls(tools, (ToolCall("1", "search_tickets", bad),))
    with pytest.raises(ValueError, match="not one of"):
        validated_calls(tools, (ToolCall("1", "delete_everything", "{}"),))


@pytest.mark.parametrize("model", ["compat:gpt-4o-mini", "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"])
@pytest.mark.parametrize("streamed", [False, True])
def test_tool_calls_on_each_wire_format(fake: FakeProvider, model: str, streamed: bool) -> None:
    ai = _ai(fake, model, cache=False)
    prompt = "Please get_ticket for the refund complaint"
    if streamed:
        stream = ai.stream(prompt, tools=[search_tickets, get_ticket])
        assert "".join(stream) == ""  # the answer is a call, not text
        r = stream.response
    else:
        r = ai.chat(prompt, tools=[search_tickets, get_ticket])
    assert r is not None
    assert [c.name for c in r.tool_calls] == ["get_ticket"]
    (call,) = r.tool_calls
    assert isinstance(call.arguments, dict) and isinstance(call.arguments["ticket_id"], str)
    assert call.id
    assert r.finish_reason in ("tool_calls", "tool_use")


def test_tool_choice_none_auto_required_and_named(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False)
    tools = [search_tickets, get_ticket]
    assert ai.chat("hello there", tools=tools).tool_calls == ()  # auto, no tool named: text
    assert ai.chat("hello there", tools=tools).text.startswith("fake-")
    assert [c.name for c in ai.chat("hello", tools=tools, tool_choice="required").tool_calls] == [
        "search_tickets"
    ]
    assert [c.name for c in ai.chat("hello", tools=tools, tool_choice="get_ticket").tool_calls] == [
        "get_ticket"
    ]
    assert ai.chat("get_ticket please", tools=tools, tool_choice="none").tool_calls == ()
    with pytest.raises(ConfigError, match="tool_choice"):
        ai.chat("hi", tools=tools, tool_choice="delete")
    with pytest.raises(ConfigError, match="needs tools"):
        ai.chat("hi", tool_choice="required")


def test_tool_calls_are_cached_and_keyed_by_tools(fake: FakeProvider) -> None:
    ai = _ai(fake)
    first = ai.chat("get_ticket 42", tools=[get_ticket])
    again = ai.chat("get_ticket 42", tools=[get_ticket])
    assert again.cached and again.tool_calls == first.tool_calls
    other = ai.chat("get_ticket 42", tools=[get_ticket, search_tickets])
    assert not other.cached  # other tools, another key
    assert ai.cache_key("x", tools=[get_ticket]) != ai.cache_key("x")


def test_invalid_arguments_are_retried_once_then_raise(fake: FakeProvider) -> None:
    # The fake answers with arguments valid for the schema it was sent; a stricter local check
    # (the tool here demands a pattern the fake's instance cannot meet) fails both attempts.
    strict = {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"email": {"type": "string", "pattern": "^nobody-matches-this$"}},
            "required": ["email"],
        },
    }
    ai = _ai(fake, cache=False)
    with pytest.raises(InvalidOutputError, match="lookup"):
        ai.chat("lookup the customer", tools=[strict])
    assert fake.stats()["requests"] == 2


def test_openai_sdk_tool_calls_against_the_fake(fake: FakeProvider) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=fake.base_url, api_key=FAKE_KEY, max_retries=0)
    r = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "what is the weather in Paris"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "weather" and "city" in json.loads(call.function.arguments)
    follow = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "what is the weather in Paris"},
            r.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=[WEATHER],
    )
    assert follow.choices[0].message.content and not follow.choices[0].message.tool_calls
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="non-empty"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])


def test_anthropic_sdk_tool_calls_against_the_fake(fake: FakeProvider) -> None:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=fake.url, api_key=FAKE_KEY, max_retries=0)
    tool = {"name": "weather", "description": "Weather.", "input_schema": WEATHER["function"]["parameters"]}
    r = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[tool],  # type: ignore[list-item]
    )
    (block,) = r.content
    assert r.stop_reason == "tool_use" and block.type == "tool_use" and block.name == "weather"
    follow = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [block.model_dump()]},  # type: ignore[list-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}],
            },
        ],
        tools=[tool],  # type: ignore[list-item]
    )
    assert follow.stop_reason == "end_turn" and follow.content[0].type == "text"


def test_run_executes_tools_and_feeds_results_back(fake: FakeProvider) -> None:
    ai = _ai(fake)
    seen: list[dict[str, object]] = []

    def get_ticket(ticket_id: str) -> dict[str, str]:
        """Get one ticket by id."""
        seen.append({"ticket_id": ticket_id})
        return {"id": ticket_id, "subject": "refund"}

    result = ai.run("get_ticket and summarise it", tools=[get_ticket])
    assert [s.call.name for s in result.steps] == ["get_ticket"] and result.steps[0].ok
    assert seen == [result.steps[0].call.arguments]
    assert len(result.responses) == 2 and result.text == result.response.text
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert '"subject": "refund"' in result.messages[2]["content"]
    calls = ai.calls()
    assert len(calls[calls["outcome"] == "ok"]) == 2  # every step in the call log
    again = ai.run("get_ticket and summarise it", tools=[get_ticket])
    assert all(r.cached for r in again.responses) and again.text == result.text  # and in the cache
    assert len(seen) == 2  # the tool itself runs again: its effects are not cached


def test_run_returns_tool_errors_to_the_model_and_stops_at_max_steps(fake: FakeProvider) -> None:
    ai = _ai(fake, cache=False)

    def search_tickets(query: str) -> list[str]:
        """Search tickets."""
        raise RuntimeError(f"search is down for {query!r}")

    with pytest.raises(aikit.exceptions.ToolLoopError, match="max_steps=3"):
        ai.run("search_tickets for refunds", tools=[search_tickets], tool_choice="required", max_steps=3)
    result = ai.run("search_tickets for refunds", tools=[search_tickets], max_steps=3)
    (step,) = result.steps
    assert not step.ok and step.error is not None and "RuntimeError: search is down" in step.error
    assert result.messages[2]["content"].startswith("error: RuntimeError")
    with pytest.raises(ConfigError, match="Python functions"):
        ai.run("x", tools=[WEATHER])
