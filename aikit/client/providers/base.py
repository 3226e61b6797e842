"""What every provider wire format implements, sans I/O, and the pieces they share.

A provider never sends anything. It turns a :class:`ChatRequest` into an ``httpx.Request``, reads an
``httpx.Response`` (or the events of an SSE stream) into a :class:`Parsed` answer, says whether a failed
response is worth retrying (:class:`ErrorInfo`) and reads the rate-limit headers (:class:`RateLimits`).
The client (``aikit.client``) owns the sending, the cache, pacing and retries.

>>> dec = SSEDecoder()
>>> [e for line in ["event: ping", "data: {}", ""] for e in dec.feed(line)]
[('ping', '{}')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aikit.client.response import Usage
from aikit.client.retry import is_retryable_status, parse_retry_after

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from aikit.auth.secrets import Secret
    from aikit.client.schema import OutputSchema
    from aikit.client.tools import Tool, ToolCall

__all__ = [
    "ChatRequest",
    "ErrorInfo",
    "Parsed",
    "Provider",
    "RateLimits",
    "SSEDecoder",
    "StreamDecoder",
    "endpoint",
    "error_info_from",
    "is_context_overflow",
    "json_body",
    "parse_duration",
]


@dataclass(slots=True)
class ChatRequest:
    """One chat call, provider-neutral.

    ``messages`` are OpenAI-style dicts (``role``/``content``); a ``system`` role message may be first.
    ``params`` hold every sampling parameter the caller set (``temperature``, ``max_tokens``, ``top_p``,
    ``seed``, ``stop`` ...); None values are never sent. ``extra`` is the caller's ``extra_body``: fields
    merged into the JSON body as they are, last (the openai SDK's convention for deliberate extras).
    ``tools`` are the tools the model may call and ``tool_choice`` the neutral choice
    (:mod:`aikit.client.tools`); messages may then hold OpenAI-style ``tool_calls`` and ``tool`` turns.
    """

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    schema: OutputSchema | None = None
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A provider's answer, before validation and caching (``tool_calls`` as sent, unvalidated)."""

    text: str
    model: str
    usage: Usage
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    #: Per output token ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}``, when the
    #: request asked for ``logprobs`` and the provider returned them (OpenAI wire only).
    logprobs: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failed HTTP response, classified."""

    status: int
    message: str
    retryable: bool
    retry_after: float | None = None
    #: the provider's error code or type (``context_length_exceeded``, ``overloaded_error`` ...)
    code: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Limits a provider advertised in its response headers (None when not sent).

    ``rpm`` / ``tpm`` are per-minute limits; ``*_remaining`` what is left in the current window.
    """

    rpm: float | None = None
    tpm: float | None = None
    requests_remaining: float | None = None
    tokens_remaining: float | None = None

    def __bool__(self) -> bool:
        return self.rpm is not None or self.tpm is not None


class StreamDecoder(Protocol):
    """Consumes SSE events of one streamed answer; returns the text delta of each event."""

    def feed(self, event: str, data: str) -> str | None: ...

    @property
    def done(self) -> bool: ...

    def result(self) -> Parsed: ...


class Provider(Protocol):
    """A wire format (OpenAI Chat Completions, Anthropic Messages), sans I/O."""

    #: provider name as used in specs and cache keys ("openai", "compat", "ollama", "anthropic", "local")
    name: str
    #: the family of the wire format ("openai" or "anthropic"), used for pricing
    wire: str
    base_url: str

    def build_request(self, req: ChatRequest, api_key: Secret | None) -> httpx.Request: ...

    def parse_response(self, resp: httpx.Response, req: ChatRequest) -> Parsed: ...

    def stream_decoder(self, req: ChatRequest) -> StreamDecoder: ...

    def error_info(self, resp: httpx.Response) -> ErrorInfo: ...

    def rate_limits(self, headers: Mapping[str, str]) -> RateLimits: ...


class SSEDecoder:
    """Server-sent events from text lines (``event:``/``data:`` fields; a blank line ends an event)."""

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[tuple[str, str]]:
        """Feed one line (without its newline); yields ``(event, data)`` when an event completes."""
        if not line:
            if self._data:
                event, data = self._event or "message", "\n".join(self._data)
                self._event, self._data = "", []
                yield event, data
            else:
                self._event = ""
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value

    def flush(self) -> Iterator[tuple[str, str]]:
        """The last event when the stream ended without a trailing blank line."""
        yield from self.feed("")


def endpoint(base_url: str, path: str) -> str:
    """``path`` appended to the path of ``base_url``, before its query (Azure's ``?api-version=``).

    >>> endpoint("https://r.openai.azure.com/openai/deployments/d/?api-version=1", "/chat/completions")
    'https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=1'
    """
    head, sep, query = base_url.partition("?")
    return head.rstrip("/") + path + (sep + query if sep else "")


def json_body(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; text that is not valid Unicode (a lone surrogate) is sent ``\\u``-escaped."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset durations (``"1s"``, ``"6m0s"``, ``"250ms"``) in seconds, or None.

    >>> parse_duration("6m0s"), parse_duration("250ms"), parse_duration("x")
    (360.0, 0.25, None)
    """
    if not text:
        return None
    total, matched = 0.0, False
    for number, unit in _DURATION.findall(text):
        matched = True
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return total if matched else None


def number(headers: Mapping[str, str], name: str) -> float | None:
    """A numeric header, or None when absent or not a number."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def error_info_from(
    status: int, headers: Mapping[str, str], message: str, code: str | None = None
) -> ErrorInfo:
    """Classify a failed response: retryable statuses (and ``x-should-retry``), with the server hint."""
    retryable = is_retryable_status(status)
    should = (headers.get("x-should-retry") or "").strip().lower()
    if should == "true":
        retryable = True
    elif should == "false":
        retryable = False
    return ErrorInfo(
        status=status, message=message, retryable=retryable, retry_after=parse_retry_after(headers), code=code
    )


#: Error codes (or types) that say the prompt does not fit the model's context window.
_OVERFLOW_CODES = frozenset(
    {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
)
_OVERFLOW_TEXT = re.compile(r"prompt is too long|maximum context length|context window|too many tokens", re.I)


def is_context_overflow(info: ErrorInfo) -> bool:
    """Whether a failed response says the prompt is too long for the model (its code, else its text).

    >>> is_context_overflow(ErrorInfo(400, "x", False, code="context_length_exceeded"))
    True
    >>> is_context_overflow(ErrorInfo(400, "prompt is too long: 210 tokens > 200 maximum", False))
    True
    >>> is_context_overflow(ErrorInfo(400, "bad temperature", False, code="invalid_request_error"))
    False
    """
    if info.status not in (400, 413, 422):
        return False
    return info.code in _OVERFLOW_CODES or bool(_OVERFLOW_TEXT.search(info.message))


def error_code(resp: httpx.Response) -> str | None:
    """The error's ``code`` (OpenAI) or ``type`` (Anthropic) from a JSON error body, or None."""
    try:
        body = resp.json()
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    code = err.get("code") or err.get("type")
    return str(code) if code else None


def error_message(resp: httpx.Response) -> str:
    """The provider's error message from a JSON error body (``{"error": {"message": ...}}``) or the text."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("type")
            if msg:
                return str(msg)[:1000]
        elif isinstance(err, str):
            return err[:1000]
        detail = body.get("detail") or body.get("message")
        if detail:
            return str(detail)[:1000]
    text = resp.text.strip()
    return text[:500] if text else (resp.reason_phrase or f"HTTP {resp.status_code}")
