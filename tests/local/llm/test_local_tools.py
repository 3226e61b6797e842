"""Tool calls on the embedded model: the call is chosen under llama.cpp's JSON-schema grammar, so
``aikit.AI("local")`` returns real, schema-valid ``tool_calls`` (llama.cpp itself ignores ``tools``)."""

from __future__ import annotations

import pytest

import aikit

pytestmark = pytest.mark.local_llm


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


def test_required_tool_call_and_the_loop() -> None:
    ai = aikit.AI("local", cache=False)
    r = ai.chat("What is the weather in Paris?", tools=[get_weather], tool_choice="required", max_tokens=60)
    (call,) = r.tool_calls
    assert call.name == "get_weather" and isinstance(call.arguments["city"], str)
    assert r.finish_reason == "tool_calls" and r.text == ""
    result = ai.run("What is the weather in Paris?", tools=[get_weather], max_steps=3, max_tokens=60)
    assert len(result.responses) >= 1 and all(s.ok for s in result.steps)


def test_auto_may_answer_in_text_and_none_never_calls() -> None:
    ai = aikit.AI("local", cache=False)
    r = ai.chat("Say hello.", tools=[get_weather], tool_choice="auto", max_tokens=40)
    assert bool(r.text) != bool(r.tool_calls)  # either an answer or a call, always well formed
    plain = ai.chat("Say hello.", tools=[get_weather], tool_choice="none", max_tokens=20)
    assert plain.tool_calls == () and plain.text
