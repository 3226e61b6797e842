"""One call's request, before any I/O: messages and parameters, the cache key, the token estimate.

Everything here is pure. :class:`RequestBuilder` holds what a client fixes once (provider, model, the
normalised base URL, the provider's default parameters) and turns the arguments of ``ai.chat`` into a
provider-neutral :class:`~aikit.client.providers.base.ChatRequest` and its cache key.
:func:`cache_mode` reads the ``cache=`` argument of one call.

>>> rb = RequestBuilder(provider="openai", model="gpt-4o-mini", base_url="")
>>> req = rb.build("hi", temperature=0)
>>> req.messages, req.params
([{'role': 'user', 'content': 'hi'}], {'temperature': 0})
>>> rb.key(req) == rb.key(rb.build("hi", temperature=0.0))
True
>>> cache_mode(False), cache_mode(True), cache_mode("refresh")
('off', 'use', 'refresh')

With the provider's request fields given as ``known``, any other keyword is refused, naming the closest
known field (and saying to pass it as ``extra_body={...}``, which sends deliberate extras as they are):

>>> strict = RequestBuilder(provider="openai", model="m", base_url="", known={"temperature", "seed"})
>>> strict.build("hi", params={"temprature": 0})
Traceback (most recent call last):
...
aikit.exceptions.ConfigError: unknown parameter 'temprature' for openai (did you mean 'temperature'?); ...
>>> strict.build("hi", extra_body={"top_k": 5}).extra
{'top_k': 5}
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Collection, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from aikit.client.cache import KEY_PREFIX, cache_key, canonical_json
from aikit.client.providers.base import ChatRequest
from aikit.client.schema import OutputSchema
from aikit.client.tools import Tool, tool_choice_of, tools_of
from aikit.exceptions import ConfigError

__all__ = ["CACHE_MODES", "DEFAULT_OUTPUT_ESTIMATE", "RequestBuilder", "cache_mode", "estimate_tokens"]

#: ``use``: read and write; ``refresh``: write only; ``read_only``: read only; ``off``: neither.
CACHE_MODES = ("use", "refresh", "read_only", "off")
#: Output tokens assumed for pacing and estimates when ``max_tokens`` is not given.
DEFAULT_OUTPUT_ESTIMATE = 256
#: The keyword arguments of ``ai.chat`` itself, also offered as suggestions for a misspelt parameter.
CALL_ARGUMENTS = ("system", "schema", "temperature", "max_tokens", "cache", "observer", "extra_body", "tail")
#: Keywords that look like parameters but ask for something aikit does not do here.
_NOT_PARAMETERS = {
    "mode": (
        "mode= is not a request parameter of one call: the providers' batch APIs run many rows, through "
        "df.ai.map/classify/extract(..., mode='batch') or aikit.batch(..., mode='batch')"
    ),
    "stream": "stream= is not a parameter of chat(); use ai.stream(...) to stream the answer",
    "model": "the model is chosen when the client is made: aikit.AI('provider:model')",
    "messages": "pass the messages as the prompt: ai.chat([{'role': 'user', 'content': ...}])",
}


def cache_mode(value: object) -> str:
    """The cache mode of one call: one of :data:`CACHE_MODES`, or ``True`` (use) / ``False`` (off)."""
    if value is True:
        return "use"
    if value is False or value is None:
        return "off"
    if isinstance(value, str) and value in CACHE_MODES:
        return value
    raise ConfigError(f"cache= must be True, False or one of {CACHE_MODES}, got {value!r}")


def estimate_tokens(prompt: Any, system: str | None = None, max_tokens: int | None = None) -> tuple[int, int]:
    """``(input, output)`` tokens: characters/4 plus 4 per message, and ``max_tokens`` (else 256).

    A rough guess for pacing and budgets, not a tokenizer.

    >>> estimate_tokens("x" * 400, max_tokens=20)
    (104, 20)
    """
    if isinstance(prompt, str):
        chars, n = len(prompt), 1
    else:
        chars, n = sum(len(str(m.get("content", ""))) for m in prompt), len(prompt)
    if system:
        chars, n = chars + len(system), n + 1
    return chars // 4 + 4 * n, max_tokens if max_tokens is not None else DEFAULT_OUTPUT_ESTIMATE


def _messages(prompt: Any, system: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list | tuple) and prompt:
        if not all(
            isinstance(m, Mapping) and "role" in m and ("content" in m or "tool_calls" in m) for m in prompt
        ):
            raise ConfigError('prompt messages must be dicts with "role" and "content"')
        messages = [dict(m) for m in prompt]
    else:
        raise ConfigError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


class RequestBuilder:
    """Builds the requests and cache keys of one client (pure: no I/O, no state changes).

    Parameters
    ----------
    provider, model : str
        As in the client's ``"provider:model"``; both are part of every cache key.
    base_url : str
        The normalised base URL (``aikit.client.cache.normalize_base_url``), part of every key.
    defaults : mapping, optional
        Parameters sent unless the call sets them (the embedded model's ``temperature=0``).
    known : collection of str, optional
        The provider's request fields: other parameter names are refused with a ``ConfigError`` that
        suggests the closest one (None accepts any name).
    """

    __slots__ = ("base_url", "defaults", "known", "model", "provider", "request_model")

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        base_url: str,
        defaults: Mapping[str, Any] | None = None,
        known: Collection[str] | None = None,
    ) -> None:
        self.provider, self.model, self.base_url = provider, model, base_url
        self.defaults = dict(defaults or {})
        self.known = frozenset(known) if known is not None else None
        #: The model name sent on the wire (the embedded server names its model once it runs).
        self.request_model = model

    def build(
        self,
        prompt: Any,
        system: str | None = None,
        schema: OutputSchema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        stream: bool = False,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatRequest:
        """The provider-neutral request for these ``ai.chat`` arguments (raises ``ConfigError``)."""
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
            raise ConfigError(f"max_tokens must be a positive int, got {max_tokens!r}")
        merged = dict(self.defaults)
        if temperature is not None:
            merged["temperature"] = temperature
        if max_tokens is not None:
            merged["max_tokens"] = max_tokens
        tools: tuple[Tool, ...] = ()
        choice = None
        if params:
            self.check(params)
            params = dict(params)
            tools = tools_of(params.pop("tools", None))
            choice = tool_choice_of(params.pop("tool_choice", None), tools)
            merged.update((k, v) for k, v in params.items() if v is not None)
        extra = _extra(extra_body)
        messages = _messages(prompt, system)
        return ChatRequest(self.request_model, messages, merged, schema, stream, extra, tools, choice)

    def check(self, params: Mapping[str, Any]) -> None:
        """Refuse parameter names the provider does not know (see ``known``), with the closest one."""
        for name in params:
            if not isinstance(name, str):
                raise ConfigError(f"parameter names must be strings, got {name!r}")
            if name in _NOT_PARAMETERS:
                raise ConfigError(_NOT_PARAMETERS[name])
            if self.known is None or name in self.known:
                continue
            close = difflib.get_close_matches(name, [*self.known, *CALL_ARGUMENTS], n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown parameter {name!r} for {self.provider}{hint}; "
                f"a provider-specific field goes in extra_body={{{name!r}: ...}}"
            )

    def key(self, req: ChatRequest) -> str:
        """The cache key of ``req``: everything that decides the answer, nothing that does not."""
        return cache_key(self._key_fields(req, req.messages))

    def _key_fields(self, req: ChatRequest, messages: Any) -> dict[str, Any]:
        """What :meth:`key` hashes, with ``messages`` in place of the request's (``keys`` splices)."""
        fields = {
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "messages": messages,
            "params": req.params,
            "schema": req.schema.json_schema if req.schema is not None else None,
        }
        if req.extra:  # only when given, so the keys of every other request stay as they were
            fields["extra_body"] = req.extra
        if req.tools:
            fields["tools"] = [t.definition() for t in req.tools]
            fields["tool_choice"] = req.tool_choice
        return fields

    def keys(
        self,
        prompts: Sequence[Any],
        system: str | None = None,
        schema: OutputSchema | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        params: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The cache key of each prompt sent with the same options: what :meth:`key` gives, made faster.

        A batch's requests differ only in their messages, so the canonical JSON of everything else is
        made once and each string prompt's messages are spliced into it (one C string encode and one
        sha256 per row instead of a canonical walk of the whole request); chat-message prompts take
        the full path. The options are checked once, by building the first request.

        >>> rb = RequestBuilder(provider="openai", model="m", base_url="")
        >>> rb.keys(["hi", [{"role": "user", "content": "hi"}]], system="s", max_tokens=5) == [
        ...     rb.key(rb.build("hi", "s", max_tokens=5))] * 2
        True
        """
        if not prompts:
            return []
        probe = self.build(prompts[0], system, schema, temperature, max_tokens, params, extra_body=extra_body)
        fields = self._key_fields(probe, _MARK)
        head, mark, tail = canonical_json(fields).partition(f'"messages":{encode_basestring(_MARK)}')
        if not mark:  # pragma: no cover - the marker cannot appear twice
            return [self.key(self.build(p, system, schema, temperature, max_tokens, params,
                                        extra_body=extra_body)) for p in prompts]  # fmt: skip
        head += '"messages":['
        if system is not None:
            head += '{"content":' + encode_basestring(system) + ',"role":"system"},'
        head += '{"content":'
        tail = ',"role":"user"}]' + tail
        prefix, sha = KEY_PREFIX, hashlib.sha256
        out = []
        for prompt in prompts:
            if type(prompt) is str:
                text = head + encode_basestring(prompt) + tail
                out.append(prefix + sha(text.encode("utf-8", "surrogatepass")).hexdigest())
            else:
                req = self.build(prompt, system, schema, temperature, max_tokens, params,
                                 extra_body=extra_body)  # fmt: skip
                out.append(self.key(req))
        return out


#: Stands for the messages while the rest of a batch's canonical request JSON is made.
_MARK = "\x00aikit-messages\x00"


def _extra(extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra_body is None:
        return {}
    if not isinstance(extra_body, Mapping) or not all(isinstance(k, str) for k in extra_body):
        raise ConfigError(f"extra_body must be a dict of JSON body fields, got {type(extra_body).__name__}")
    return dict(extra_body)
