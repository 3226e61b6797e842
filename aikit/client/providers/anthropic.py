"""Anthropic Messages, natively (``POST {base_url}/messages``), sans I/O.

System messages move to the top-level ``system`` field; ``max_tokens`` (required by the API) defaults
to 1024. A schema is sent as one tool whose ``input_schema`` is the schema, with ``tool_choice`` forcing
it, which every Claude model supports; the tool input becomes the answer's JSON text. Rate-limit
headers are ``anthropic-ratelimit-requests-*`` and ``anthropic-ratelimit-tokens-*`` (or the
``input-tokens`` ones).

>>> from aikit.client.providers.base import ChatRequest
>>> p = AnthropicProvider("https://api.anthropic.com/v1")
>>> b = p.body(ChatRequest("claude-haiku-4-5", [{"role": "system", "content": "Be brief."},
...                                              {"role": "user", "content": "hi"}]))
>>> b["system"], b["max_tokens"], b["messages"]
('Be brief.', 1024, [{'role': 'user', 'content': 'hi'}])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from aikit.client.providers.base import (
    ChatRequest,
    ErrorInfo,
    Parsed,
    RateLimits,
    endpoint,
    error_code,
    error_info_from,
    error_message,
    json_body,
    number,
)
from aikit.client.response import Usage
from aikit.client.tools import ToolCall, anthropic_tool_choice, anthropic_tools
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.secrets import Secret

__all__ = ["ANTHROPIC_PARAMS", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicProvider"]

#: Request fields of the Messages API a caller may pass as keywords (others go in ``extra_body``).
ANTHROPIC_PARAMS = frozenset(
    {
        "max_tokens", "temperature", "top_p", "top_k", "stop", "stop_sequences", "metadata", "tools",
        "tool_choice", "thinking", "service_tier", "container", "mcp_servers", "context_management",
    }
)  # fmt: skip

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
#: Wrapper property used when a schema's top level is not an object (tool inputs must be objects).
_WRAP = "value"


class AnthropicProvider:
    """The Anthropic Messages wire format.

    Parameters
    ----------
    base_url : str
        Up to and including ``/v1`` (default ``https://api.anthropic.com/v1``).
    """

    name = "anthropic"
    wire = "anthropic"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._url = endpoint(base_url, "/messages")

    def __repr__(self) -> str:
        return f"AnthropicProvider({self.base_url!r})"

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """The JSON body for ``req`` (no credentials)."""
        system_parts: list[str] = []
        messages: list[dict[str, Any]] = []
        for m in req.messages:
            if m.get("role") == "system":
                content = m.get("content")
                system_parts.append(content if isinstance(content, str) else json.dumps(content))
            else:
                _append(messages, m)
        body: dict[str, Any] = {"model": req.model, "messages": messages}
        params = dict(req.params)
        max_tokens = params.pop("max_tokens", None)
        body["max_tokens"] = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        if system_parts:
            body["system"] = "\n\n".join(system_parts)
        for name, value in params.items():
            if value is None:
                continue
            if name == "stop":
                body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
            else:
                body[name] = value
        schema = req.schema
        if schema is not None and req.tools:
            raise ConfigError("anthropic: schema= is sent as a forced tool, so it cannot go with tools=[...]")
        if schema is not None:
            input_schema = schema.json_schema
            if input_schema.get("type") != "object":
                input_schema = {"type": "object", "properties": {_WRAP: input_schema}, "required": [_WRAP]}
            body["tools"] = [
                {
                    "name": schema.name,
                    "description": "Return the answer as this tool's input.",
                    "input_schema": input_schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": schema.name}
        elif req.tools:
            body["tools"] = anthropic_tools(req.tools)
            if req.tool_choice is not None:
                body["tool_choice"] = anthropic_tool_choice(req.tool_choice)
        if req.stream:
            body["stream"] = True
        body.update(req.extra)
        return body

    def build_request(self, req: ChatRequest, api_key: Secret | None) -> httpx.Request:
        """``POST /messages`` with ``x-api-key`` and ``anthropic-version`` headers."""
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if req.stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if api_key:
            headers["x-api-key"] = api_key.reveal()
        return httpx.Request("POST", self._url, headers=headers, content=json_body(self.body(req)))

    def parse_response(self, resp: httpx.Response, req: ChatRequest) -> Parsed:
        """Text (or the forced tool's input as JSON), usage, model and stop reason of a 2xx answer."""
        data = resp.json()
        if not isinstance(data, dict) or "content" not in data:
            raise ValueError("answer has no content")
        texts: list[str] = []
        tool_input: Any = None
        calls: list[ToolCall] = []
        for block in data.get("content") or ():
            kind = block.get("type")
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use" and req.schema is None:
                calls.append(ToolCall(str(block.get("id")), str(block.get("name")), block.get("input") or {}))
            elif kind == "tool_use" and tool_input is None:
                tool_input = block.get("input")
        text = "".join(texts)
        if req.schema is not None and tool_input is not None:
            text = _tool_text(tool_input, req)
        usage = data.get("usage") or {}
        return Parsed(
            text=text,
            model=str(data.get("model") or req.model),
            usage=Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
            finish_reason=data.get("stop_reason"),
            tool_calls=tuple(calls),
        )

    def stream_decoder(self, req: ChatRequest) -> _AnthropicStream:
        return _AnthropicStream(req)

    def error_info(self, resp: httpx.Response) -> ErrorInfo:
        return error_info_from(resp.status_code, resp.headers, error_message(resp), error_code(resp))

    def rate_limits(self, headers: Mapping[str, str]) -> RateLimits:
        """``anthropic-ratelimit-requests-limit`` and ``-tokens-limit`` (or ``-input-tokens-limit``)."""
        tpm = number(headers, "anthropic-ratelimit-tokens-limit")
        remaining = number(headers, "anthropic-ratelimit-tokens-remaining")
        if tpm is None:
            tpm = number(headers, "anthropic-ratelimit-input-tokens-limit")
            remaining = number(headers, "anthropic-ratelimit-input-tokens-remaining")
        return RateLimits(
            rpm=number(headers, "anthropic-ratelimit-requests-limit"),
            tpm=tpm,
            requests_remaining=number(headers, "anthropic-ratelimit-requests-remaining"),
            tokens_remaining=remaining,
        )


def _append(messages: list[dict[str, Any]], m: dict[str, Any]) -> None:
    """Add a neutral (OpenAI-style) message: ``tool_calls`` become ``tool_use`` blocks, ``tool``
    turns ``tool_result`` blocks of one user message (Anthropic wants them together, in order)."""
    role = m.get("role")
    if role == "assistant" and m.get("tool_calls"):
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m.get("content") else []
        for c in m["tool_calls"]:
            fn = c.get("function") or {}
            args = fn.get("arguments") or "{}"
            blocks.append(
                {"type": "tool_use", "id": c.get("id"), "name": fn.get("name"),
                 "input": json.loads(args) if isinstance(args, str) else args}
            )  # fmt: skip
        messages.append({"role": "assistant", "content": blocks})
    elif role == "tool":
        block = {
            "type": "tool_result",
            "tool_use_id": m.get("tool_call_id"),
            "content": str(m.get("content")),
        }
        last = messages[-1] if messages else None
        if (
            last is not None
            and last.get("role") == "user"
            and isinstance(last.get("content"), list)
            and all(b.get("type") == "tool_result" for b in last["content"])
        ):
            last["content"].append(block)
        else:
            messages.append({"role": "user", "content": [block]})
    else:
        messages.append(m)


def _tool_text(tool_input: Any, req: ChatRequest) -> str:
    schema = req.schema
    if (
        schema is not None
        and schema.json_schema.get("type") != "object"
        and isinstance(tool_input, dict)
        and _WRAP in tool_input
    ):
        tool_input = tool_input[_WRAP]
    if isinstance(tool_input, str):
        return tool_input
    return json.dumps(tool_input, ensure_ascii=False)


class _AnthropicStream:
    """Events of a streamed Messages answer: ``message_start``, ``content_block_delta``, ``message_delta``."""

    __slots__ = ("_blocks", "_done", "_finish", "_input", "_json", "_model", "_output", "_req", "_text")

    def __init__(self, req: ChatRequest) -> None:
        self._req = req
        self._blocks: dict[int, list[str]] = {}  # tool_use blocks by index: id, name, input JSON
        self._model = req.model
        self._text: list[str] = []
        self._json: list[str] = []
        self._input = 0
        self._output = 0
        self._finish: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        payload = json.loads(data) if data else {}
        kind = payload.get("type", event) if isinstance(payload, dict) else event
        if kind == "message_start":
            message = payload.get("message") or {}
            self._model = str(message.get("model") or self._model)
            usage = message.get("usage") or {}
            self._input = int(usage.get("input_tokens") or 0)
            self._output = int(usage.get("output_tokens") or 0)
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use" and self._req.schema is None:
                self._blocks[int(payload.get("index") or 0)] = [
                    str(block.get("id")),
                    str(block.get("name")),
                    "",
                ]
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            slot = self._blocks.get(int(payload.get("index") or 0))
            if slot is not None and delta.get("type") == "input_json_delta":
                slot[2] += str(delta.get("partial_json", ""))
                return None
            if delta.get("type") == "text_delta":
                text = str(delta.get("text", ""))
                self._text.append(text)
                return text or None
            if delta.get("type") == "input_json_delta":
                part = str(delta.get("partial_json", ""))
                self._json.append(part)
                return part or None
        elif kind == "message_delta":
            usage = payload.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self._output = int(usage["output_tokens"])
            if usage.get("input_tokens"):
                self._input = int(usage["input_tokens"])
            self._finish = (payload.get("delta") or {}).get("stop_reason") or self._finish
        elif kind == "message_stop":
            self._done = True
        elif kind == "error":
            raise ValueError(f"stream error: {payload.get('error')}")
        return None

    def result(self) -> Parsed:
        if self._json and self._req.schema is not None:
            raw = "".join(self._json)
            try:
                text = _tool_text(json.loads(raw), self._req)
            except ValueError:
                text = raw
        else:
            text = "".join(self._text)
        calls = tuple(ToolCall(i, n, args or "{}") for _, (i, n, args) in sorted(self._blocks.items()))
        return Parsed(text, self._model, Usage(self._input, self._output), self._finish, calls)
