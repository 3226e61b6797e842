"""What a request asks of the fake provider, without any I/O: checks, the answer's shape, directives.

:func:`validate` applies the rules of each wire format (OpenAI Chat Completions, Anthropic Messages)
and returns the provider-style message of the first broken one; :func:`answer_shape` finds the JSON
schema (``response_format``, a forced Anthropic tool, ``output_format``) the answer must follow;
:func:`directives` reads the per-request ``[[fake:status=503,times=2]]`` instructions a test writes
into a message. The ASGI app (:mod:`aikit.testing.fake_app`) acts on the results.

>>> from aikit.testing.fake_config import FakeConfig
>>> validate({"model": "m", "messages": []}, {}, False, FakeConfig())
"'messages' must be a non-empty array"
>>> directives([("user", "hi [[fake:status=503,times=2]]")])
{'status': '503', 'times': '2'}
>>> answer_shape({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, False)
({}, None)
"""

from __future__ import annotations

import re
from typing import Any

from aikit.testing.fake_config import FakeConfig

__all__ = ["answer_shape", "directives", "max_tokens", "validate"]

_DIRECTIVE = re.compile(r"\[\[fake:([^\]]*)\]\]")


def max_tokens(req: dict[str, Any], anthropic: bool) -> Any:
    """The output limit the request asks for (OpenAI: ``max_completion_tokens``, then ``max_tokens``)."""
    return req.get("max_tokens") if anthropic else req.get("max_completion_tokens", req.get("max_tokens"))


def validate(req: Any, headers: dict[str, str], anthropic: bool, cfg: FakeConfig) -> str | None:
    """The provider's 400 message for a malformed request, or None when it is well formed."""
    if not isinstance(req, dict):
        return "The request body must be a JSON object."
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "model: Field required" if anthropic else "you must provide a model parameter"
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required" if anthropic else "'messages' must be a non-empty array"
    limit = max_tokens(req, anthropic)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return f"max_tokens must be a positive integer, got {limit!r}"
    if anthropic:
        if cfg.require_anthropic_version and "anthropic-version" not in headers:
            return "anthropic-version: header is required"
        if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] < 1:
            return "max_tokens: Field required (a positive integer)"
        if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
            return 'messages: Unexpected role "system". Use the top-level `system` parameter instead.'
    return None


def answer_shape(req: dict[str, Any], anthropic: bool) -> tuple[Any, str | None]:
    """(JSON schema to answer with or None, name of the forced tool or None)."""
    if not anthropic:
        fmt = req.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema") or {}, None
        if isinstance(fmt, dict) and fmt.get("type") == "json_object":
            return {"type": "object", "properties": {"answer": {"type": "string"}}}, None
        return None, None
    tools = [t for t in req.get("tools") or () if isinstance(t, dict)]
    choice = req.get("tool_choice") or {}
    if tools and isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
        name = choice.get("name") if choice.get("type") == "tool" else tools[0].get("name")
        for tool in tools:
            if tool.get("name") == name:
                return tool.get("input_schema") or {"type": "object"}, str(name)
    fmt = req.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema") or {}, None
    return None, None


def directives(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The ``[[fake:key=value,...]]`` directives in the conversation (later ones win).

    Keys: ``status=N``, ``times=K``, ``retry_after=S``, ``delay=S``, ``hang``, ``invalid_json``,
    ``finish=length``; a bare key means ``1``.

    Raises
    ------
    ValueError
        When a numeric value does not parse (the app answers 400).
    """
    found: dict[str, str] = {}
    for _, text in pairs:
        if "[[fake:" not in text:
            continue
        for match in _DIRECTIVE.finditer(text):
            for item in match.group(1).split(","):
                name, _, value = item.strip().partition("=")
                if name:
                    found[name] = value or "1"
    for name in ("status", "times"):
        if name in found:
            int(found[name])
    for name in ("retry_after", "delay"):
        if name in found:
            float(found[name])
    return found
