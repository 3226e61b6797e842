"""OpenAI Chat Completions, and every server that speaks it (``compat:``, ``ollama:``, ``local``, ``azure:``).

Sans I/O: builds ``POST {base_url}/chat/completions`` (the path goes before a query such as Azure's
``?api-version=``), parses answers and SSE chunks, classifies errors and reads ``x-ratelimit-*``
headers. The key goes in ``Authorization: Bearer``, or in ``api-key`` for Azure OpenAI. A schema is
sent as ``response_format`` of type ``json_schema`` (``strict`` only when the schema meets OpenAI's
strict-mode rules, so any schema is accepted).

>>> from aikit.client.providers.base import ChatRequest
>>> p = OpenAIProvider("compat", "http://127.0.0.1:8000/v1")
>>> req = p.build_request(ChatRequest("m", [{"role": "user", "content": "hi"}], {"temperature": 0}), None)
>>> str(req.url), "authorization" in req.headers
('http://127.0.0.1:8000/v1/chat/completions', False)
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
    parse_duration,
)
from aikit.client.response import Usage
from aikit.client.tools import ToolCall, openai_tool_choice, openai_tools

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.secrets import Secret
    from aikit.client.schema import OutputSchema

__all__ = ["COMPAT_PARAMS", "OPENAI_PARAMS", "OpenAIProvider"]

#: Request fields of Chat Completions a caller may pass as keywords (others go in ``extra_body``).
OPENAI_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "user", "tools",
        "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "verbosity",
        "service_tier", "store", "metadata", "modalities", "audio", "prediction", "web_search_options",
        "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip
#: What OpenAI-compatible servers (vLLM, llama.cpp, Ollama, LM Studio) add to those.
COMPAT_PARAMS = OPENAI_PARAMS | {
    "top_k", "min_p", "typical_p", "repetition_penalty", "repeat_penalty", "repeat_last_n", "mirostat",
    "mirostat_tau", "mirostat_eta", "grammar", "json_schema", "n_probs", "cache_prompt", "min_tokens",
    "best_of", "ignore_eos", "stop_token_ids", "skip_special_tokens", "guided_json", "guided_regex",
    "guided_choice", "guided_grammar", "chat_template_kwargs",
}  # fmt: skip

_JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class OpenAIProvider:
    """The OpenAI Chat Completions wire format.

    Parameters
    ----------
    name : str
        ``openai``, ``compat``, ``ollama``, ``local`` or ``azure`` (goes into cache keys and the call log).
    base_url : str
        Up to and including ``/v1`` (Azure: the deployment URL with its ``?api-version=``).
    """

    wire = "openai"

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._url = endpoint(base_url, "/chat/completions")
        # OpenAI's own API wants max_completion_tokens (reasoning models refuse max_tokens);
        # compatible servers (vLLM, Ollama, llama.cpp) and older Azure API versions only know max_tokens.
        self._max_tokens_field = "max_completion_tokens" if name == "openai" else "max_tokens"
        self._key_header = "api-key" if name == "azure" else "authorization"

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.name!r}, {self.base_url!r})"

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """The JSON body for ``req`` (no credentials)."""
        if self.name == "local" and (req.tools or _has_tool_turns(req.messages)):
            req = _local_request(req)  # tools as a grammar: see providers.local_tools
        body: dict[str, Any] = {"model": req.model, "messages": req.messages}
        for name, value in req.params.items():
            if value is None:
                continue
            body[self._max_tokens_field if name == "max_tokens" else name] = value
        if req.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": req.schema.name,
                    "schema": req.schema.json_schema,
                    "strict": _strict_ok(req.schema),
                },
            }
        if req.tools:
            body["tools"] = openai_tools(req.tools)
            if req.tool_choice is not None:
                body["tool_choice"] = openai_tool_choice(req.tool_choice)
        if req.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(req.extra)
        return body

    def build_request(self, req: ChatRequest, api_key: Secret | None) -> httpx.Request:
        """``POST /chat/completions`` with the key (Bearer, or Azure's ``api-key``) when there is one."""
        headers = dict(_JSON_HEADERS)
        if req.stream:
            headers["accept"] = "text/event-stream"
        if api_key:
            key = api_key.reveal()
            headers[self._key_header] = key if self._key_header == "api-key" else "Bearer " + key
        return httpx.Request("POST", self._url, headers=headers, content=json_body(self.body(req)))

    def embeddings_request(
        self, model: str, inputs: list[str], api_key: Secret | None, dimensions: int | None = None
    ) -> httpx.Request:
        """``POST /embeddings`` for ``inputs`` (the same key header as chat)."""
        body: dict[str, Any] = {"model": model, "input": inputs, "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        headers = dict(_JSON_HEADERS)
        if api_key:
            key = api_key.reveal()
            headers[self._key_header] = key if self._key_header == "api-key" else "Bearer " + key
        url = endpoint(self.base_url, "/embeddings")
        return httpx.Request("POST", url, headers=headers, content=json_body(body))

    def parse_response(self, resp: httpx.Response, req: ChatRequest) -> Parsed:
        """Text, usage, model and finish reason of a 2xx answer."""
        data = resp.json()
        parsed = _parsed(data, req.model)
        if self.name == "local" and req.tools and req.tool_choice != "none":
            return _local_calls(parsed, str(data.get("id") or "call"))
        return parsed

    def stream_decoder(self, req: ChatRequest) -> _OpenAIStream:
        local = self.name == "local" and bool(req.tools) and req.tool_choice != "none"
        return _OpenAIStream(req.model, local_tools=local)

    def error_info(self, resp: httpx.Response) -> ErrorInfo:
        return error_info_from(resp.status_code, resp.headers, error_message(resp), error_code(resp))

    def rate_limits(self, headers: Mapping[str, str]) -> RateLimits:
        """``x-ratelimit-limit-requests`` / ``-tokens`` (per minute) and what remains."""
        return RateLimits(
            rpm=number(headers, "x-ratelimit-limit-requests"),
            tpm=number(headers, "x-ratelimit-limit-tokens"),
            requests_remaining=number(headers, "x-ratelimit-remaining-requests"),
            tokens_remaining=number(headers, "x-ratelimit-remaining-tokens"),
        )

    @staticmethod
    def reset_after(headers: Mapping[str, str]) -> float | None:
        """Seconds until the request window resets (``x-ratelimit-reset-requests``), if sent."""
        return parse_duration(headers.get("x-ratelimit-reset-requests"))


def _parsed(data: Any, default_model: str) -> Parsed:
    if not isinstance(data, dict) or not data.get("choices"):
        raise ValueError("answer has no choices")
    choice = data["choices"][0]
    message = choice.get("message") or {}
    text = message.get("content")
    finish = choice.get("finish_reason")
    if text is None and message.get("refusal"):
        text, finish = str(message["refusal"]), "refusal"
    usage = data.get("usage") or {}
    calls = tuple(
        ToolCall(str(c.get("id") or f"call_{i}"), str(fn.get("name") or ""), fn.get("arguments") or "{}")
        for i, c in enumerate(message.get("tool_calls") or ())
        if isinstance(c, dict) and isinstance(fn := c.get("function") or {}, dict)
    )
    return Parsed(
        text=text if isinstance(text, str) else "",
        model=str(data.get("model") or default_model),
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        finish_reason=finish,
        logprobs=_logprobs(choice.get("logprobs")),
        tool_calls=calls,
    )


def _entry(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("token"), str):
        return None
    try:
        return {"token": item["token"], "logprob": float(item["logprob"])}
    except (KeyError, TypeError, ValueError):
        return None


def _logprobs(block: Any) -> list[dict[str, Any]] | None:
    """``choices[0].logprobs.content`` reduced to tokens and log-probabilities (no bytes, no ids).

    >>> _logprobs({"content": [{"token": "B", "logprob": -0.1, "bytes": [66],
    ...                         "top_logprobs": [{"token": "B", "logprob": -0.1, "id": 33}]}]})
    [{'token': 'B', 'logprob': -0.1, 'top_logprobs': [{'token': 'B', 'logprob': -0.1}]}]
    """
    content = block.get("content") if isinstance(block, dict) else None
    if not isinstance(content, list):
        return None
    out = []
    for item in content:
        entry = _entry(item)
        if entry is None:
            continue
        tops = item.get("top_logprobs") if isinstance(item.get("top_logprobs"), list) else []
        entry["top_logprobs"] = [e for e in map(_entry, tops) if e is not None]
        out.append(entry)
    return out


class _OpenAIStream:
    """Chunks of ``stream: true``: ``choices[0].delta.content``, usage in the last chunk, ``[DONE]``.

    Tool calls arrive as ``delta.tool_calls`` pieces keyed by ``index``: the id and name first, the
    arguments JSON in fragments; they are joined here and handed over with the result.
    """

    __slots__ = ("_calls", "_done", "_finish", "_local", "_model", "_parts", "_usage")

    def __init__(self, model: str, *, local_tools: bool = False) -> None:
        self._model = model
        self._local = local_tools
        self._calls: dict[int, list[str]] = {}
        self._parts: list[str] = []
        self._usage = Usage()
        self._finish: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        if data.strip() == "[DONE]":
            self._done = True
            return None
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            return None
        if "error" in chunk:
            raise ValueError(f"stream error: {chunk['error']}")
        if chunk.get("model"):
            self._model = str(chunk["model"])
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        delta_text = None
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
            delta = choice.get("delta") or {}
            for piece in delta.get("tool_calls") or ():
                slot = self._calls.setdefault(int(piece.get("index") or 0), ["", "", ""])
                fn = piece.get("function") or {}
                slot[0] = str(piece.get("id") or slot[0])
                slot[1] += str(fn.get("name") or "")
                slot[2] += str(fn.get("arguments") or "")
            content = delta.get("content")
            if content:
                self._parts.append(content)
                delta_text = content if delta_text is None else delta_text + content
        return delta_text

    def result(self) -> Parsed:
        calls = tuple(
            ToolCall(ident or f"call_{i}", name, args or "{}")
            for i, (ident, name, args) in sorted(self._calls.items())
        )
        parsed = Parsed("".join(self._parts), self._model, self._usage, self._finish, calls)
        return _local_calls(parsed, "call") if self._local else parsed


def _has_tool_turns(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)


def _local_request(req: ChatRequest) -> ChatRequest:
    """``req`` for the embedded model: no ``tools``, the choice of a call as a JSON schema instead."""
    from dataclasses import replace

    from aikit.client.providers import local_tools
    from aikit.client.schema import OutputSchema

    messages = local_tools.plain_messages(req.messages)
    if not req.tools or req.tool_choice == "none":
        return replace(req, messages=messages, tools=(), tool_choice=None)
    hint = {"role": "system", "content": local_tools.tools_prompt(req.tools, req.tool_choice)}
    schema = OutputSchema(local_tools.SCHEMA_NAME, local_tools.answer_schema(req.tools, req.tool_choice))
    return replace(req, messages=[hint, *messages], schema=schema, tools=(), tool_choice=None)


def _local_calls(parsed: Parsed, ident: str) -> Parsed:
    from dataclasses import replace

    from aikit.client.providers.local_tools import read_answer

    text, calls = read_answer(parsed.text, ident)
    finish = "tool_calls" if calls else parsed.finish_reason
    return replace(parsed, text=text, tool_calls=calls, finish_reason=finish)


def _strict_ok(schema: OutputSchema) -> bool:
    """True when every object closes ``additionalProperties`` and requires all its properties."""

    def ok(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                props = node.get("properties") or {}
                if node.get("additionalProperties") is not False or set(node.get("required") or ()) != set(
                    props
                ):
                    return False
            return all(ok(v) for v in node.values())
        if isinstance(node, list):
            return all(ok(v) for v in node)
        return True

    return ok(schema.json_schema)
