"""What the fake provider says, without any I/O: replies, schema instances, bodies and SSE events.

The reply is a function of the request only: ``fake-<16 hex>`` where the hex is a sha256 over the model
and the (role, text) pairs of the conversation (the Anthropic ``system`` field counts as a leading
system message, so the same logical request gets the same reply on both wire formats). A JSON schema
gets a deterministic instance valid for it, derived from the same digest.

>>> fake_reply("m", [{"role": "user", "content": "hi"}]).startswith("fake-")
True
>>> schema_instance({"type": "object", "properties": {"label": {"enum": ["a"]}}}, "00")
{'label': 'a'}
>>> go_duration(0.909), go_duration(1), go_duration(360)
('909ms', '1s', '6m0s')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "anthropic_error",
    "anthropic_message",
    "anthropic_stream",
    "conversation",
    "count_tokens",
    "fake_reply",
    "go_duration",
    "openai_completion",
    "openai_error",
    "openai_stream",
    "prompt_tokens",
    "reply_text",
    "request_digest",
    "rfc3339",
    "schema_instance",
]

_MAX_DEPTH = 12


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                parts.append(text if isinstance(text, str) else json.dumps(part, sort_keys=True))
            else:
                parts.append(str(part))
        return "".join(parts)
    return "" if content is None else json.dumps(content, sort_keys=True)


def conversation(messages: Any, system: Any = None) -> list[tuple[str, str]]:
    """``(role, text)`` pairs of a request; a separate ``system`` (Anthropic) comes first."""
    pairs: list[tuple[str, str]] = []
    if system:
        pairs.append(("system", _text_of(system)))
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, Mapping):
            pairs.append((str(message.get("role", "")), _text_of(message.get("content"))))
    return pairs


def request_digest(model: str, pairs: list[tuple[str, str]]) -> str:
    """Hex sha256 over the model and the conversation: the seed of every deterministic choice."""
    blob = json.dumps([model, pairs], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def fake_reply(
    model: str, messages: Any, *, system: Any = None, reply: str = "hash", reply_words: int = 0
) -> str:
    """The text the fake provider answers to this request (without a schema).

    Tests use it to check that an answer belongs to its prompt.

    >>> fake_reply("m", [{"role": "user", "content": "ping"}], reply="echo")
    'ping'
    """
    pairs = conversation(messages, system)
    return reply_text(pairs, request_digest(model, pairs), reply, reply_words)


def reply_text(pairs: list[tuple[str, str]], digest: str, reply: str = "hash", reply_words: int = 0) -> str:
    """The reply for a conversation whose :func:`request_digest` is ``digest``."""
    if reply == "echo":
        users = [text for role, text in pairs if role == "user"]
        text = users[-1] if users else ""
    else:
        text = "fake-" + digest[:16]
    if reply_words:
        text += "".join(f" w{digest[i % 60 : i % 60 + 4]}" for i in range(reply_words))
    return text


def count_tokens(text: str) -> int:
    """A rough token count: one per four characters, at least one."""
    return max(1, len(text) // 4)


def prompt_tokens(pairs: list[tuple[str, str]]) -> int:
    """Prompt tokens as the fake bills them: chars/4 plus 4 per message."""
    return sum(len(text) // 4 + 4 for _, text in pairs) or 1


def schema_instance(
    schema: Any, digest: str, *, root: Any = None, name: str = "value", depth: int = 0
) -> Any:
    """A deterministic JSON value valid for the (common subset of) JSON Schema ``schema``.

    Handles ``$ref`` into ``$defs``/``definitions``, ``enum``/``const``, ``anyOf``/``oneOf``/``allOf``,
    objects (every property), arrays (``minItems``, at least one), strings (``format``, lengths),
    integers and numbers (bounds) and booleans. Choices (enum members, numbers) come from ``digest``.
    """
    root = schema if root is None else root
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    seed = int(digest[depth % 48 : depth % 48 + 8] or "0", 16) + sum(map(ord, name))
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return schema_instance(target, digest, root=root, name=name, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed % len(enum)]
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
            return schema_instance((usable or options)[0], digest, root=root, name=name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            value = schema_instance(part, digest, root=root, name=name, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            elif not merged:
                return value
        return merged
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {
            key: schema_instance(sub, digest, root=root, name=key, depth=depth + 1)
            for key, sub in props.items()
        }
    if kind == "array":
        low = int(schema.get("minItems", 1) or 0)
        high = schema.get("maxItems")
        count = max(low, 1) if high is None else min(max(low, 1), int(high))
        items = schema.get("items") or {}
        return [
            schema_instance(items, digest, root=root, name=f"{name}{i}", depth=depth + 1)
            for i in range(count)
        ]
    if kind == "string":
        return _string(schema, name, digest, seed)
    if kind in ("integer", "number"):
        return _number(schema, kind, seed)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return f"{name}-{digest[:6]}"


def _number(schema: Mapping[str, Any], kind: str, seed: int) -> int | float:
    def bound(inclusive: str, exclusive: str, step: int) -> float | None:
        if inclusive in schema:
            return float(schema[inclusive])
        if exclusive in schema:
            return float(schema[exclusive]) + (step if kind == "integer" else 0)
        return None

    low = bound("minimum", "exclusiveMinimum", 1)
    high = bound("maximum", "exclusiveMaximum", -1)
    if low is None:
        low = 0.0 if high is None or high >= 0 else high - 100
    if high is None:
        high = low + 100
    if kind == "integer":
        low_i, high_i = math.ceil(low), math.floor(high)
        return low_i + seed % max(1, high_i - low_i + 1)
    return low + (high - low) * ((seed % 997) + 1) / 1000.0


def _string(schema: Mapping[str, Any], name: str, digest: str, seed: int) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return f"2024-{1 + seed % 12:02d}-{1 + seed % 28:02d}"
    if fmt == "date-time":
        return f"2024-{1 + seed % 12:02d}-{1 + seed % 28:02d}T12:00:00Z"
    if fmt == "email":
        return f"{name}.{digest[:6]}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{name}/{digest[:6]}"
    if fmt == "uuid":
        return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    text = f"{name}-{digest[:6]}"
    low = int(schema.get("minLength", 0) or 0)
    if len(text) < low:
        text += "x" * (low - len(text))
    high = schema.get("maxLength")
    return text[: int(high)] if high is not None else text


def go_duration(seconds: float) -> str:
    """Seconds in Go's duration style, as OpenAI's ``x-ratelimit-reset-*`` headers: 909ms, 1s, 6m0s."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    sec_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{minutes}m{sec_text}s"
    return f"{sec_text}s"


def rfc3339(epoch: float) -> str:
    """UTC time in RFC 3339, as Anthropic's ``anthropic-ratelimit-*-reset`` headers."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def openai_error(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def anthropic_error(message: str, kind: str) -> dict[str, Any]:
    """An Anthropic-shaped error body."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def _openai_call(ident: str, tool: tuple[str, Any], index: int | None = None) -> dict[str, Any]:
    call = {
        "id": "call_" + ident[-20:],
        "type": "function",
        "function": {"name": tool[0], "arguments": json.dumps(tool[1], ensure_ascii=False)},
    }
    return call if index is None else {"index": index, **call}


def openai_completion(
    ident: str,
    model: str,
    created: int,
    text: str,
    usage: tuple[int, int],
    finish: str,
    tool: tuple[str, Any] | None = None,
    *,
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` body; with ``tool`` (name, arguments) one tool call and no text."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool is not None:
        message.update(content=None, tool_calls=[_openai_call(ident, tool)])
        finish = "tool_calls" if finish == "stop" else finish
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": {"content": logprobs, "refusal": None} if logprobs is not None else None,
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        "system_fingerprint": "fp_aikit_fake",
    }


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def openai_stream(
    ident: str,
    model: str,
    created: int,
    text: str,
    usage: tuple[int, int],
    finish: str,
    *,
    chunk_chars: int,
    include_usage: bool,
    tool: tuple[str, Any] | None = None,
) -> Iterator[bytes]:
    """SSE lines of a streamed ``chat.completion.chunk`` answer, ending with ``data: [DONE]``.

    With ``tool`` the deltas carry one tool call (id and name first, the arguments in pieces).
    """
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False, separators=(",", ":"))
        return b"data: " + body.encode() + b"\n\n"

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    if tool is not None:
        call = _openai_call(ident, tool, 0)
        arguments = call["function"].pop("arguments")
        call["function"]["arguments"] = ""
        yield event([{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}])
        for part in _chunks(arguments, chunk_chars):
            piece = {"index": 0, "function": {"arguments": part}}
            yield event([{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}])
        finish = "tool_calls" if finish == "stop" else finish
    else:
        for part in _chunks(text, chunk_chars):
            yield event([{"index": 0, "delta": {"content": part}, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "finish_reason": finish}])
    if include_usage:
        tokens = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
        yield event([], usage=tokens)
    yield b"data: [DONE]\n\n"


def anthropic_message(
    ident: str, model: str, text: str, usage: tuple[int, int], stop: str, tool: tuple[str, Any] | None
) -> dict[str, Any]:
    """A Messages API body: one text block, or one ``tool_use`` block when a tool was forced."""
    if tool is not None:
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": "toolu_" + ident[4:], "name": tool[0], "input": tool[1]}
        ]
    else:
        content = [{"type": "text", "text": text}]
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def anthropic_stream(
    ident: str,
    model: str,
    text: str,
    usage: tuple[int, int],
    stop: str,
    tool: tuple[str, Any] | None,
    *,
    chunk_chars: int,
) -> Iterator[bytes]:
    """SSE events of a streamed Messages answer: message_start ... message_stop."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {name}\ndata: {body}\n\n".encode()

    start = anthropic_message(ident, model, "", (usage[0], 1), stop, None)
    start.update(content=[], stop_reason=None)
    yield event("message_start", {"type": "message_start", "message": start})
    if tool is not None:
        block: dict[str, Any] = {"type": "tool_use", "id": "toolu_" + ident[4:], "name": tool[0], "input": {}}
        delta_kind, field = "input_json_delta", "partial_json"
    else:
        block, delta_kind, field = {"type": "text", "text": ""}, "text_delta", "text"
    yield event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
    yield event("ping", {"type": "ping"})
    for part in _chunks(text, chunk_chars):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": delta_kind, field: part}}
        yield event("content_block_delta", delta)
    yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        },
    )
    yield event("message_stop", {"type": "message_stop"})
